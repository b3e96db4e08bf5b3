"""manage.py detect_drift [--provider NAME]: compare grants with the memberships the last sync saw."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from governance.drift.services import detect_drift


class Command(BaseCommand):
    help = "Find members without a grant (reported) and grants without a membership (re-queued)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--provider", help="Only groups of this connector. Default: every watched group.")

    def handle(self, *args, provider: str | None = None, **options) -> None:
        report = detect_drift(connector=provider)
        self.stdout.write(
            f"Unexplained members: {report.unexplained}; missing memberships: {report.missing} "
            f"({report.repaired} re-queued); findings resolved: {report.resolved}."
        )
