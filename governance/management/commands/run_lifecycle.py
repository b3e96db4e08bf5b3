"""manage.py run_lifecycle — one lifecycle pass now (joiners, movers, leavers, scheduled offboardings)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from governance.lifecycle.services import run_lifecycle


class Command(BaseCommand):
    help = "Compare the directory with what lifecycle last saw and act: birthright, mover reviews, offboarding."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--allow-over-cap",
            action="store_true",
            help="Offboard every leaver even beyond GATEHOUSE_LEAVER_MAX_PER_RUN (after checking the feed).",
        )

    def handle(self, *args, allow_over_cap: bool = False, **options) -> None:
        report = run_lifecycle(allow_over_cap=allow_over_cap)
        self.stdout.write(report.line())
        if report.stopped_at_cap:
            self.stdout.write("Held leavers: " + ", ".join(report.held_leavers[:50]))
