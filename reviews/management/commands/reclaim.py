"""manage.py reclaim [--app SLUG] [--dry-run] — run the Auto Reclaim sweep now and print a summary."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from governance.errors import GovernanceError
from reviews.reclaim.services import run_reclaim


class Command(BaseCommand):
    help = "Warn about, then remove, access people stopped using (per each application's reclaim policy)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--app", metavar="SLUG", help="Only this application.")
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; report what would happen.")

    def handle(self, *args, app: str | None = None, dry_run: bool = False, **options) -> None:
        try:
            summary = run_reclaim(app_slug=app, dry_run=dry_run or None)
        except GovernanceError as error:
            raise CommandError(error.message) from error
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        for line in summary.lines():
            self.stdout.write(line)
        if any(a.stopped_at_cap for a in summary.apps):
            self.stderr.write("The removal cap stopped the sweep for at least one application (see above).")
