"""Telling people: approvers get an email with a signed, expiring link to the approver page.

Mail goes out from a task after commit (never inside a transaction), through Django's mail
backend (EMAIL_URL; the console in development).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django_q.tasks import async_task

from catalog.models import Person
from governance.models import ApprovalStep

logger = logging.getLogger(__name__)

LINK_SALT = "gatehouse.approval-link"
SEND_TASK = "governance.tasks.send_approval_email"
SUBJECTS = {
    "asked": "Approval needed: {request} — {role} for {beneficiary}",
    "reminder": "Reminder: approval still needed for {request} — {role} for {beneficiary}",
    "escalated": "Escalated to you: approval for {request} — {role} for {beneficiary}",
}


def approval_link(step: ApprovalStep, person: Person) -> str:
    """An absolute URL to decide `step` as `person`, signed and valid for APPROVAL_LINK_MAX_AGE_DAYS."""
    token = signing.dumps({"s": step.pk, "p": person.pk}, salt=LINK_SALT, compress=True)
    return settings.GATEHOUSE["BASE_URL"].rstrip("/") + reverse("approval-page", args=[token])


def read_approval_link(token: str) -> tuple[int, int]:
    """(step id, person id) from a link token; raises signing.SignatureExpired / BadSignature."""
    max_age = settings.GATEHOUSE["APPROVAL_LINK_MAX_AGE_DAYS"] * 86400
    data = signing.loads(token, salt=LINK_SALT, max_age=max_age)
    return int(data["s"]), int(data["p"])


def approvers_asked(step: ApprovalStep, *, reason: str, people: list[Person] | None = None) -> None:
    """After commit, email each of the step's approvers (or just `people`)."""
    targets = [p.pk for p in (people if people is not None else step.approvers.all())]
    step_id = step.pk

    def enqueue() -> None:
        for person_id in targets:
            async_task(SEND_TASK, step_id, person_id, reason)

    transaction.on_commit(enqueue)


def send_approval_email(step_id: int, person_id: int, reason: str) -> bool:
    step = ApprovalStep.objects.select_related("request__role__application", "request__beneficiary").get(pk=step_id)
    person = Person.objects.get(pk=person_id)
    if step.status != ApprovalStep.Status.PENDING:
        return False
    request = step.request
    subject = SUBJECTS[reason].format(request=request, role=request.role, beneficiary=request.beneficiary.name)
    body = (
        f"{request.requester.name} asks for {request.role} for {request.beneficiary.name}"
        f" ({request.beneficiary.department or 'no department'}).\n"
        f"Reason: {request.reason}\n\n"
        f"Approve or deny: {approval_link(step, person)}\n"
        f"(The link is for you only and expires in {settings.GATEHOUSE['APPROVAL_LINK_MAX_AGE_DAYS']} days.)\n"
    )
    send_mail(subject, body, None, [person.email])
    return True


def notify_person(person: Person, *, subject: str, body: str) -> None:
    """Email one person after the current transaction commits (the product's notification channel)."""
    send_email_later(person.email, subject=subject, body=body)


def send_email_later(address: str, *, subject: str, body: str) -> None:
    """Email one address from a task after the current transaction commits."""
    transaction.on_commit(lambda: async_task("governance.tasks.send_email", address, subject, body))


def send_email(address: str, subject: str, body: str) -> int:
    return send_mail(subject, body, None, [address])
