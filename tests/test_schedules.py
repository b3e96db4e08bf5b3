"""Schedules: each app's table, collected by setup_schedules, which prunes what is no longer declared."""

from __future__ import annotations

import ast
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import Schedule

from governance.management.commands.setup_schedules import declared_schedules
from governance.schedules import SCHEDULES as GOVERNANCE
from provisioning.schedules import SCHEDULES as PROVISIONING
from reviews.schedules import SCHEDULES as REVIEWS


def setup() -> str:
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    return out.getvalue()


def test_it_collects_every_apps_table(db):
    setup()
    expected = {**GOVERNANCE, **PROVISIONING, **REVIEWS}
    assert set(Schedule.objects.values_list("name", flat=True)) == set(expected)
    for name, entry in expected.items():
        schedule = Schedule.objects.get(name=name)
        assert (schedule.func, schedule.minutes, schedule.repeats) == (entry["func"], entry["minutes"], -1)
        assert ast.literal_eval(schedule.kwargs) == {"q_options": {"timeout": entry["timeout"]}}
        assert schedule.cluster == entry.get("cluster")


def test_the_sync_runs_on_the_long_cluster_with_a_timeout_that_fits_it(db, settings):
    setup()
    sync = Schedule.objects.get(name="sync directories and detect drift")
    long_cluster = settings.Q_CLUSTER["ALT_CLUSTERS"]["long"]
    timeout = ast.literal_eval(sync.kwargs)["q_options"]["timeout"]
    assert sync.cluster == "long"
    assert settings.Q_CLUSTER["timeout"] < timeout < long_cluster["timeout"] < long_cluster["retry"]


def test_every_task_named_in_a_table_exists():
    from django.utils.module_loading import import_string

    for entry in declared_schedules().values():
        assert callable(import_string(entry.func)), entry.func


def test_running_it_again_changes_nothing(db):
    setup()
    before = list(Schedule.objects.order_by("name").values_list("name", "func", "minutes", "kwargs", "cluster"))
    second = setup()
    assert "removed" not in second and "created" not in second
    assert list(Schedule.objects.order_by("name").values_list("name", "func", "minutes", "kwargs", "cluster")) == before


def test_it_removes_dropped_schedules_but_never_per_grant_expiries_or_foreign_tasks(db):
    Schedule.objects.create(name="expire due grants", func="governance.tasks.run_expiry_timer", minutes=1)
    Schedule.objects.create(name="an old sweep", func="reviews.campaigns.tasks.gone", minutes=5)
    Schedule.objects.create(
        name="expire-grant-41", func="governance.tasks.expire_grant", args="41", schedule_type=Schedule.ONCE
    )
    Schedule.objects.create(name="backups", func="company.jobs.backup", minutes=60)

    out = setup()

    names = set(Schedule.objects.values_list("name", flat=True))
    assert "an old sweep" not in names and "removed: an old sweep (no longer declared)" in out
    assert {"expire-grant-41", "backups"} <= names
    assert Schedule.objects.get(name="expire due grants").func == "governance.tasks.expire_due_grants"


def test_a_timeout_beyond_the_clusters_retry_is_refused(db, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "retry": 60}
    with pytest.raises(CommandError, match="not below its cluster's retry of 60 s"):
        setup()
    assert not Schedule.objects.exists()


def test_django_q_hands_each_schedules_timeout_to_its_task(db):
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler
    from django_q.signals import pre_enqueue

    setup()
    Schedule.objects.exclude(name="fail abandoned directory syncs").delete()
    queued = []

    def remember(sender, task, **kwargs):
        queued.append(task)

    pre_enqueue.connect(remember)
    try:
        scheduler(broker=get_broker())
    finally:
        pre_enqueue.disconnect(remember)
    assert [(task["func"], task["timeout"]) for task in queued] == [
        ("provisioning.tasks.fail_abandoned_syncs", PROVISIONING["fail abandoned directory syncs"]["timeout"])
    ]
