"""The task cluster's record of successful tasks, kept to a number.

django-q2 prunes that record itself when `save_limit` is above 0, but does so on every saved
result by loading every kept success row under a lock: with 1,000 kept, each task's result costs
tens of milliseconds of CPU and serialises the clusters' monitors. Gatehouse runs the cluster with
`save_limit` 0 (no pruning there) and prunes on a schedule instead, in one DELETE.
"""

from __future__ import annotations

from django_q.models import Success


def prune_successes(keep: int) -> int:
    """Delete all but the `keep` most recent successful tasks; returns how many went. Failed
    tasks are never pruned here."""
    beyond = Success.objects.order_by("-stopped", "-id").values_list("stopped", flat=True)[keep : keep + 1]
    cutoff = next(iter(beyond), None)
    if cutoff is None:
        return 0
    deleted, _ = Success.objects.filter(stopped__lte=cutoff).delete()
    return deleted
