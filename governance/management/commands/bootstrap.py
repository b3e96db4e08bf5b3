"""manage.py bootstrap — first-run set-up used by the run command: demo data, admin login, API token."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts import oidc
from catalog.models import Person
from governance.demo_logins import Login, create_reviewer_logins
from governance.services import Actor, create_api_token
from governance.tokens.scopes import Scope

ADMIN_USERNAME = "admin"
#: The second Jira Automation token: the rules that relay approvals, revocations and extensions.
DECIDE_SCOPES = [
    Scope.REQUESTS_DECIDE,
    Scope.REQUESTS_READ,
    Scope.GRANTS_READ,
    Scope.GRANTS_REVOKE,
    Scope.GRANTS_EXTEND,
    Scope.PEOPLE_READ,
]


class Command(BaseCommand):
    help = (
        "Load demo data into an empty database; create an admin login, API tokens (first run) and the demo's "
        "reviewer logins (those missing). Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-demo", action="store_true", help="Do not load demo data.")
        parser.add_argument(
            "--admin-email",
            default=None,
            help="Directory person the admin login acts as (approvals are recorded as them); default the demo's "
            "head of IT (priya@ the demo's domain).",
        )

    def handle(self, *args, no_demo: bool = False, admin_email: str | None = None, **options) -> None:
        admin_email = admin_email or _demo_admin_email()
        if not no_demo:
            call_command("load_demo", if_empty=True, stdout=self.stdout)
        call_command("setup_schedules", stdout=self.stdout)
        if not no_demo and not oidc.enabled():  # with SSO on, people sign in through the company's provider
            self._print_reviewer_logins(create_reviewer_logins())
        user_model = get_user_model()
        if user_model.objects.filter(username=ADMIN_USERNAME).exists():
            self.stdout.write(
                "Admin login and API tokens were printed on the first run "
                "(new token: manage.py create_api_token NAME --scopes …; new password: "
                "manage.py changepassword admin)."
            )
            return
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_superuser(ADMIN_USERNAME, admin_email, password)
        # With company SSO on, this superuser is the break-glass login: linked to nobody, so a person's
        # SSO sign-in never becomes a superuser session.
        person = None if oidc.enabled() else Person.objects.filter(email__iexact=admin_email, user__isnull=True).first()
        if person:
            person.user = user
            person.save(update_fields=["user"])
        system = Actor.system("bootstrap")
        _, submit = create_api_token(
            name="jira-automation", scopes=[Scope.REQUESTS_SUBMIT, Scope.REQUESTS_READ], actor=system
        )
        _, decide = create_api_token(name="jira-decisions", scopes=DECIDE_SCOPES, actor=system)
        acting = f" (acts as {person.email})" if person else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Admin login:   {ADMIN_USERNAME} / {password}{acting}\n"
                f"  Submit token:  {submit}   (jira-automation: requests:submit, requests:read)\n"
                f"  Decide token:  {decide}   (jira-decisions: {', '.join(DECIDE_SCOPES)})\n"
                "  They are shown only now; keep them.\n"
            )
        )

    def _print_reviewer_logins(self, logins: list[Login]) -> None:
        if not logins:
            return
        lines = [f"  {login.username:<9} / {login.password:<13} {login.why}" for login in logins]
        self.stdout.write(
            self.style.SUCCESS(
                "\n  Reviewer and approver logins (sign in at /accounts/login/, then /reviews/):\n"
                + "\n".join(lines)
                + "\n"
            )
        )


def _demo_admin_email() -> str:
    from governance.demo import DemoDirectoryError, email

    try:
        return email("priya")
    except DemoDirectoryError as error:
        raise CommandError(str(error)) from error
