"""manage.py rotate_api_token NAME [--overlap PT24H] — a new secret; the old one works for the overlap."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from catalog.durations import describe_duration_problem, parse_iso_duration
from governance.errors import GovernanceError
from governance.models import ApiToken
from governance.services import Actor, rotate_api_token


class Command(BaseCommand):
    help = "Give an API token a new secret (printed once); the previous secret keeps working for --overlap."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--overlap", default="PT24H", help="ISO-8601 duration, e.g. PT24H; PT0S ends it now.")

    def handle(self, *args, name: str, overlap: str, **options) -> None:
        window = timedelta(0) if overlap.strip().upper() in ("PT0S", "P0D") else parse_iso_duration(overlap)
        if window is None:
            raise CommandError(f"--overlap: {describe_duration_problem(overlap)}")
        token = ApiToken.objects.filter(name=name).first()
        if token is None:
            raise CommandError(f"No API token named {name!r}.")
        try:
            _, secret = rotate_api_token(token=token, overlap=window, actor=Actor.system("manage.py rotate_api_token"))
        except GovernanceError as error:
            raise CommandError(error.message) from error
        self.stdout.write(secret)
        self.stderr.write(self.style.WARNING("Store this token now: Gatehouse keeps only its hash."))
