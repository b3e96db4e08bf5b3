"""Sign-in logins for some of the demo's people, so the reviewer and approver pages can be tried."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from catalog.models import Person
from governance.demo import DemoDirectory, email

#: (handle, why they are worth signing in as): reviewers under the campaigns' owner and manager
#: strategies, and approvers of the walk-through's requests.
REVIEWERS = [
    ("margaret", "Alan's and Ada's manager, owner of GitHub: approves ITHELP-101, reviews GitHub"),
    ("sally", "Sales manager: reviews her team's Salesforce access"),
    ("radia", "owner of Datadog and AWS Production: reviews privileged access"),
    ("whit", "Head of Security: second approver of AWS admin"),
]


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    email: str
    why: str


def create_reviewer_logins(directory: DemoDirectory | None = None) -> list[Login]:
    """A login (random password) for each demo reviewer who has none yet; the new ones with their
    passwords, to print once. Nothing when the demo people are not there; running it again creates
    nothing. (Not for company SSO: it refuses their passwords; bootstrap does not call it then.)"""
    users = get_user_model()
    created = []
    with transaction.atomic():
        for handle, why in REVIEWERS:
            person = Person.objects.filter(email__iexact=email(handle, directory), user__isnull=True).first()
            if person is None or users.objects.filter(username=handle).exists():
                continue
            password = secrets.token_urlsafe(9)
            person.user = users.objects.create_user(handle, person.email, password)
            person.save(update_fields=["user"])
            created.append(Login(handle, password, person.email, why))
    return created
