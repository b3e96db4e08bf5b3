"""manage.py create_api_token NAME — prints the token once; only its hash is stored."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from governance.errors import GovernanceError
from governance.services import Actor, create_api_token


class Command(BaseCommand):
    help = "Create a bearer token for the REST API (e.g. one per Jira site). The secret is shown once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="A name that says who uses the token, e.g. jira-automation.")

    def handle(self, *args, name: str, **options) -> None:
        try:
            _, secret = create_api_token(name=name, actor=Actor.system("manage.py create_api_token"))
        except GovernanceError as error:
            raise CommandError(error.message) from error
        self.stdout.write(secret)
        self.stderr.write(self.style.WARNING("Store this token now: Gatehouse keeps only its hash."))
