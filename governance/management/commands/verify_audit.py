"""manage.py verify_audit — walk the audit log's hash chain; exit 1 naming the first bad event."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit.chain import verify_and_record


class Command(BaseCommand):
    help = "Verify the audit log's hash chain. Exits non-zero and names the first changed, deleted or inserted event."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--export-head", metavar="PATH", help="Also write the verified chain head (seq, hash) as JSON to PATH."
        )
        parser.add_argument("--no-alert", action="store_true", help="Do not alert IT on a break (still exits 1).")

    def handle(self, *args, **options) -> None:
        result = verify_and_record(alert=not options["no_alert"])
        if options["export_head"]:
            head = {"seq": result.last_seq, "hash": result.last_hash, "intact": result.broken is None}
            try:
                Path(options["export_head"]).write_text(json.dumps(head, indent=2) + "\n")
            except OSError as error:
                raise CommandError(f"Cannot write {options['export_head']}: {error.strerror}.") from error
        if result.broken is not None:
            raise CommandError(f"Audit chain broken at {result.broken} ({result.checked} events verified before it).")
        self.stdout.write(f"Audit chain intact: {result.checked} events, head seq {result.last_seq} {result.last_hash}")
