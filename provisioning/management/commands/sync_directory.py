"""manage.py sync_directory [--provider NAME]: mirror identity-provider directories into the catalog."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from provisioning.models import SyncRun
from provisioning.sync.services import SyncRefused, directories_to_sync, sync_directory


class Command(BaseCommand):
    help = "Sync people, groups, mapped memberships and applications from identity providers."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--provider",
            action="append",
            dest="providers",
            help="Connector name (repeatable). Default: every connector an identity-provider group uses.",
        )
        parser.add_argument(
            "--allow-shrink",
            action="store_true",
            help="Accept a listing much shorter than the last one (GATEHOUSE_SYNC_MAX_SHRINK), once you "
            "have checked that the drop is real.",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Read the whole directory even where an incremental run is due (GATEHOUSE_SYNC_FULL_EVERY_HOURS).",
        )

    def handle(
        self,
        *args,
        providers: list[str] | None = None,
        verbosity: int = 1,
        allow_shrink: bool = False,
        full: bool = False,
        **options,
    ) -> None:
        names = providers or directories_to_sync()
        if not providers:
            self.stdout.write("Skipping 'local': the local directory is Gatehouse's own database; nothing to sync.")
        if not names:
            self.stdout.write("No external directory to sync (no identity-provider group uses one).")
            return
        live = verbosity >= 1 and self.stdout.isatty()
        try:
            runs = [
                sync_directory(
                    name, self._progress(name) if verbosity >= 1 else None, allow_shrink=allow_shrink, full=full
                )
                for name in names
            ]
        except SyncRefused as error:
            raise CommandError(str(error)) from error
        if live:
            self.stdout.write("")
        for run in runs:
            self._summary(run)
        failed = [run.connector for run in runs if run.status != SyncRun.Status.SUCCEEDED]
        if failed:
            raise CommandError(f"Sync failed for {', '.join(failed)}.")

    def _progress(self, name: str):
        tty = self.stdout.isatty()
        last: dict[str, str] = {}

        def show(stage: str, done: int, total: int | None) -> None:
            line = f"{name}: {stage} {done}/{total if total is not None else '…'}"
            if tty:
                self.stdout.write("\r\033[K" + line, ending="")
                self.stdout.flush()
            elif total is not None and last.get(stage) != line:  # not a terminal: only stage totals
                last[stage] = line
                self.stdout.write(line)

        return show

    def _summary(self, run: SyncRun) -> None:
        text = (
            f"{run.connector}: {run.status} — created {run.created}, updated {run.updated}, "
            f"deactivated {run.deactivated}, suspended {run.suspended}, groups {run.groups}, "
            f"memberships {run.memberships}, applications proposed {run.applications}, errors {run.errors}"
        )
        if run.error:
            text += f"\n  {run.error}"
        problems = list(run.problems.all()) if run.pk else []
        if problems:
            text += f"\n  {len(problems)} problem(s), the rest of the sync went on:"
            text += "".join(f"\n  - {p.get_kind_display()}: {p.subject}: {p.message}" for p in problems)
        style = self.style.SUCCESS if run.status == SyncRun.Status.SUCCEEDED else self.style.ERROR
        self.stdout.write(style(text))
