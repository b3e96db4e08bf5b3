"""manage.py export_evidence --from DATE --to DATE [--application SLUG] --format csv|xlsx|json -o PATH"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import Application
from governance.audit.services import Actor
from governance.evidence.export import FORMATS, Period, export_evidence
from governance.evidence.periods import parse_moment


def _moment(value: str, *, option: str, end: bool) -> datetime:
    moment = parse_moment(value, end=end)
    if moment is None:
        raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD) or an ISO-8601 date-time.")
    return moment


class Command(BaseCommand):
    help = "Export the evidence auditors sample (SOC 2, ISO 27001, SOX) for a period: csv (a folder), xlsx or json."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="First day (YYYY-MM-DD) or date-time.")
        parser.add_argument("--to", dest="end", required=True, help="Last day, included (YYYY-MM-DD), or date-time.")
        parser.add_argument("--application", help="Only this application (slug).")
        parser.add_argument("--format", dest="file_format", choices=FORMATS, default="xlsx")
        parser.add_argument("-o", "--output", required=True, help="File to write (a folder for csv).")

    def handle(self, *args, **options) -> None:
        start = _moment(options["start"], option="--from", end=False)
        end = _moment(options["end"], option="--to", end=True)
        if end <= start:
            raise CommandError("--to must not be before --from.")
        application = None
        if options["application"]:
            application = Application.objects.filter(slug=options["application"]).first()
            if application is None:
                raise CommandError(f"--application: no application {options['application']!r}.")
        target = Path(options["output"])
        if options["file_format"] != "csv" and target.is_dir():
            raise CommandError(f"-o: {target} is a folder; give a file name for {options['file_format']}.")
        try:
            result = export_evidence(
                period=Period(start, end, application),
                file_format=options["file_format"],
                target=target,
                actor=Actor.system("export_evidence command"),
            )
        except OSError as error:
            raise CommandError(f"Cannot write {target}: {error.strerror or error}.") from error
        for name, count in result.rows.items():
            self.stdout.write(f"{name}: {count} rows")
        self.stdout.write(f"Wrote {', '.join(str(p) for p in result.paths)} (sha256 {result.sha256}).")
