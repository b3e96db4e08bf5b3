"""manage.py publish_catalog [--dry-run] — bring the request form's cascading field in line with the catalog."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.jira.catalog_field import catalog_field, publish
from governance.jira.client import JiraClient, JiraError, jira_config


class Command(BaseCommand):
    help = "Publish the requestable catalog to the Jira cascading select (parent = application, child = role)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print what would change; change nothing.")

    def handle(self, *args, **options) -> None:
        config = jira_config()
        if config is None or catalog_field() is None:
            raise CommandError(
                "Set JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN, JIRA_CATALOG_FIELD_ID and "
                "JIRA_CATALOG_CONTEXT_ID first."
            )
        try:
            with JiraClient(config) as client:
                changes = publish(client, dry_run=options["dry_run"])
        except JiraError as error:
            raise CommandError(str(error)) from error
        verb = "would change" if options["dry_run"] else "changed"
        if not changes:
            self.stdout.write("The request form's field already matches the catalog.")
        for change in changes:
            self.stdout.write(f"{verb}: {change}")
