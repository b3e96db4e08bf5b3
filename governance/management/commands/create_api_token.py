"""manage.py create_api_token NAME --scopes S[,S] [--expires-in P90D] [--actors EMAIL|@DOMAIN …]."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.durations import describe_duration_problem, parse_iso_duration
from governance.errors import GovernanceError
from governance.services import Actor, create_api_token
from governance.tokens.scopes import ALL_SCOPES


class Command(BaseCommand):
    help = (
        "Create a bearer token for the REST API (e.g. one per integration), limited to --scopes. "
        f"Scopes: {', '.join(ALL_SCOPES)}. The secret is shown once."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="A name that says who uses the token, e.g. jira-automation.")
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated, e.g. requests:submit,requests:read (or 'all')."
        )
        parser.add_argument("--expires-in", default="", help="ISO-8601 duration, e.g. P90D (default: no expiry).")
        parser.add_argument(
            "--actors",
            nargs="+",
            default=[],
            metavar="EMAIL|@DOMAIN",
            help="Only these people (or domains) may be named as approver, by or requester.",
        )

    def handle(self, *args, name: str, scopes: str, expires_in: str, actors: list[str], **options) -> None:
        expiry = None
        if expires_in:
            expiry = parse_iso_duration(expires_in)
            if expiry is None:
                raise CommandError(f"--expires-in: {describe_duration_problem(expires_in)}")
        try:
            _, secret = create_api_token(
                name=name,
                scopes=scopes,
                actors=actors,
                expires_in=expiry,
                actor=Actor.system("manage.py create_api_token"),
            )
        except GovernanceError as error:
            raise CommandError(error.message) from error
        self.stdout.write(secret)
        self.stderr.write(self.style.WARNING("Store this token now: Gatehouse keeps only its hash."))
