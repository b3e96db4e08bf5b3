"""manage.py setup_schedules — declares every periodic task; idempotent, run on every deploy.

Each app declares its own table in `<app>/schedules.py` (`SCHEDULES`: name -> func, minutes,
timeout, optional cluster). This command creates or updates each, and removes Gatehouse schedules
that are no longer declared — never the one-off schedules that end one grant each, nor schedules
someone added by hand for tasks outside Gatehouse's apps.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import module_has_submodule
from django_q.models import Schedule

from governance.grants.services import EXPIRY_SCHEDULE_PREFIX

#: the apps whose tasks Gatehouse owns (a schedule of theirs that no table declares is removed)
GATEHOUSE_APPS = ("catalog", "provisioning", "governance", "reviews")


@dataclass(frozen=True)
class Declared:
    name: str
    func: str
    minutes: int
    timeout: int
    cluster: str | None
    app: str

    @property
    def kwargs(self) -> str:
        """Schedule.kwargs as django-q2 reads them: the per-task timeout rides in q_options."""
        return repr({"q_options": {"timeout": self.timeout}})


def cluster_retry(cluster: str | None) -> int | None:
    """Seconds after which the named cluster's broker hands an unfinished task out again."""
    conf = settings.Q_CLUSTER
    if cluster is None:
        return conf.get("retry")
    alternative = (conf.get("ALT_CLUSTERS") or {}).get(cluster)
    if alternative is None:
        raise CommandError(f"No task cluster named {cluster!r} in Q_CLUSTER['ALT_CLUSTERS'].")
    return alternative.get("retry", conf.get("retry"))


def _entry(app: str, name: str, entry: dict) -> Declared:
    unknown = set(entry) - {"func", "minutes", "timeout", "cluster"}
    if unknown or not {"func", "minutes", "timeout"} <= set(entry):
        raise CommandError(f"{app}/schedules.py: {name!r} needs func, minutes and timeout (got {sorted(entry)}).")
    declared = Declared(name, entry["func"], int(entry["minutes"]), int(entry["timeout"]), entry.get("cluster"), app)
    retry = cluster_retry(declared.cluster)
    if retry is not None and declared.timeout >= retry:
        # The database broker would hand the task to a second worker while the first still runs it.
        raise CommandError(
            f"{app}/schedules.py: {name!r} has a timeout of {declared.timeout} s, not below its cluster's "
            f"retry of {retry} s; lower it or run it on the long cluster."
        )
    return declared


def declared_schedules() -> dict[str, Declared]:
    """Every app's table, merged; a name declared twice is an error."""
    found: dict[str, Declared] = {}
    for config in apps.get_app_configs():
        if not module_has_submodule(config.module, "schedules"):
            continue
        table = importlib.import_module(f"{config.name}.schedules").SCHEDULES
        for name, entry in table.items():
            if name in found:
                raise CommandError(f"Schedule {name!r} is declared by both {found[name].app} and {config.name}.")
            found[name] = _entry(config.name, name, entry)
    return found


def undeclared(declared: dict[str, Declared]):
    """Gatehouse's schedules that no table declares any more (per-grant expiry schedules excluded)."""
    owned = Schedule.objects.none()
    for app in GATEHOUSE_APPS:
        owned = owned | Schedule.objects.filter(func__startswith=f"{app}.")
    one_off_expiry = Schedule.objects.filter(name__startswith=EXPIRY_SCHEDULE_PREFIX, schedule_type=Schedule.ONCE)
    return owned.exclude(name__in=list(declared)).exclude(pk__in=one_off_expiry.values("pk"))


class Command(BaseCommand):
    help = "Create or update the periodic task schedules every app declares, and remove dropped ones."

    def handle(self, *args, **options) -> None:
        declared = declared_schedules()
        for item in declared.values():
            _, created = Schedule.objects.update_or_create(
                name=item.name,
                defaults={
                    "func": item.func,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": item.minutes,
                    "repeats": -1,
                    "kwargs": item.kwargs,
                    "cluster": item.cluster,
                },
            )
            where = f", cluster {item.cluster}" if item.cluster else ""
            self.stdout.write(
                f"{'created' if created else 'updated'}: {item.name} "
                f"(every {item.minutes} min, timeout {item.timeout} s{where})"
            )
        for name in undeclared(declared).values_list("name", flat=True):
            self.stdout.write(f"removed: {name} (no longer declared)")
        undeclared(declared).delete()
