"""One open request and one live grant per person and role: database constraints, answered readably."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from governance.models import AccessRequest, Grant
from tests import company as c


def test_the_database_refuses_a_second_open_request_for_one_person_and_role(company):
    first = c.submit("IT-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        AccessRequest.objects.create(
            requester=first.requester,
            beneficiary=first.beneficiary,
            application=first.application,
            role=first.role,
            reason="again",
        )


def test_the_database_refuses_a_second_live_grant_for_one_person_and_role(company, tasks):
    with tasks():
        request = c.submit("IT-1")
        c.decide(request, company.alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Grant.objects.create(person=company.bob, role=company.editor, status=Grant.Status.ACTIVE)


def test_approving_when_a_live_grant_appeared_meanwhile_answers_already_granted(api, company):
    request = c.submit("IT-1")
    Grant.objects.create(person=company.bob, role=company.editor, status=Grant.Status.ACTIVE)  # e.g. a race

    response = api.post("/api/v1/access-requests/IT-1/approve/", {"approver": "alice@example.com"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_granted"
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL  # nothing half-written
    assert Grant.objects.filter(person=company.bob, role=company.editor).count() == 1
