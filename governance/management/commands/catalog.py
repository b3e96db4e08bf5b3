"""manage.py catalog export|plan|apply — the catalog and access policies as reviewed YAML files."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit.services import Actor
from governance.catalog_code import engine


class Command(BaseCommand):
    help = "Export the catalog and policies to YAML, plan the files' changes, or apply them."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        export = actions.add_parser("export", help="Write the catalog and policies as YAML files.")
        export.add_argument("-o", "--output", required=True, metavar="DIR")
        plan = actions.add_parser("plan", help="Validate the files and print the changes (exit 2 when there are).")
        plan.add_argument("directory", metavar="DIR")
        plan.add_argument("--plan-file", metavar="PATH", help="Also write the plan, pinned to this database state.")
        apply = actions.add_parser("apply", help="Apply the files' changes in one transaction.")
        apply.add_argument("directory", metavar="DIR")
        apply.add_argument("--plan-file", metavar="PATH", help="Refuse unless the plan in PATH still holds.")
        apply.add_argument("--commit", default="", help="The commit id the files come from (for the audit).")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except engine.CatalogCodeError as error:
            raise CommandError(str(error)) from error

    def _export(self, options: dict) -> None:
        written = engine.export(Path(options["output"]))
        self.stdout.write(f"Wrote {len(written)} file(s) to {options['output']}.")

    def _plan(self, options: dict) -> None:
        result = engine.plan(Path(options["directory"]))
        for note in result.notes:
            self.stdout.write(f"note: {note}")
        self.stdout.write(engine.render(result))
        if options["plan_file"]:
            engine.write_plan(result, Path(options["plan_file"]))
            self.stdout.write(f"Plan written to {options['plan_file']} (database {result.database_sha256[:12]}).")
        if result.changes:
            raise SystemExit(2)

    def _apply(self, options: dict) -> None:
        pinned = engine.read_plan(Path(options["plan_file"])) if options["plan_file"] else None
        result = engine.apply(
            Path(options["directory"]), actor=Actor.system("catalog-files"), pinned=pinned, commit=options["commit"]
        )
        self.stdout.write(engine.render(result))
        self.stdout.write(f"Applied {len(result.changes)} change(s) from files {result.files_sha256[:12]}.")
