"""Both state machines, exhaustively: every legal move is saved and audited once; every other
move raises InvalidTransition and changes nothing."""

from __future__ import annotations

import itertools

import pytest

from governance.audit.services import Actor
from governance.errors import InvalidTransition
from governance.models import AccessRequest, AuditEvent, Grant
from governance.transitions import GRANT_TRANSITIONS, REQUEST_TRANSITIONS, move_grant, move_request

R = AccessRequest.Status
G = Grant.Status
ACTOR = Actor.system("tests")

REQUEST_PAIRS = list(itertools.product(R.values, R.values))
GRANT_PAIRS = list(itertools.product(G.values, G.values))
LEGAL_REQUEST = [(a, b) for a, b in REQUEST_PAIRS if b in REQUEST_TRANSITIONS[a]]
ILLEGAL_REQUEST = [(a, b) for a, b in REQUEST_PAIRS if b not in REQUEST_TRANSITIONS[a]]
LEGAL_GRANT = [(a, b) for a, b in GRANT_PAIRS if b in GRANT_TRANSITIONS[a]]
ILLEGAL_GRANT = [(a, b) for a, b in GRANT_PAIRS if b not in GRANT_TRANSITIONS[a]]


def a_request(company, status: str) -> AccessRequest:
    return AccessRequest.objects.create(
        requester=company.bob,
        beneficiary=company.bob,
        application=company.wiki,
        role=company.editor,
        reason="tests",
        status=status,
    )


def a_grant(company, status: str) -> Grant:
    return Grant.objects.create(person=company.bob, role=company.editor, status=status)


def row(model, pk) -> dict:
    return model.objects.filter(pk=pk).values().get()


def test_it_has_a_table_row_for_every_status():
    assert set(REQUEST_TRANSITIONS) == set(R.values)
    assert set(GRANT_TRANSITIONS) == set(G.values)
    assert all(not REQUEST_TRANSITIONS[s] for s in AccessRequest.TERMINAL)
    assert LEGAL_REQUEST and ILLEGAL_REQUEST and LEGAL_GRANT and ILLEGAL_GRANT


@pytest.mark.parametrize(("start", "to"), LEGAL_REQUEST, ids=[f"{a}->{b}" for a, b in LEGAL_REQUEST])
def test_it_moves_a_request_along_a_legal_edge_with_one_audit_event(company, start, to):
    request = a_request(company, start)
    events = AuditEvent.objects.count()

    move_request(request, to, actor=ACTOR, message="moved", reason="because")

    saved = AccessRequest.objects.get(pk=request.pk)
    assert saved.status == to
    assert saved.status_reason == "because"
    assert (saved.closed_at is not None) == (to in AccessRequest.TERMINAL)
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.request_id, event.actor) == (f"request.{to}", request.pk, "system:tests")
    assert event.data["from"] == start


@pytest.mark.parametrize(("start", "to"), ILLEGAL_REQUEST, ids=[f"{a}->{b}" for a, b in ILLEGAL_REQUEST])
def test_it_refuses_an_illegal_request_move_and_changes_nothing(company, start, to):
    request = a_request(company, start)
    before, events = row(AccessRequest, request.pk), AuditEvent.objects.count()

    with pytest.raises(InvalidTransition) as caught:
        move_request(request, to, actor=ACTOR, message="moved", reason="because")

    assert f"from {start} to {to}" in str(caught.value)
    assert request.status == start
    assert row(AccessRequest, request.pk) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(("start", "to"), LEGAL_GRANT, ids=[f"{a}->{b}" for a, b in LEGAL_GRANT])
def test_it_moves_a_grant_along_a_legal_edge_with_one_audit_event(company, start, to):
    grant = a_grant(company, start)
    events = AuditEvent.objects.count()

    move_grant(grant, to, actor=ACTOR, message="moved", end_reason="because")

    saved = Grant.objects.get(pk=grant.pk)
    assert (saved.status, saved.end_reason) == (to, "because")
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.grant_id, event.subject_id) == (f"grant.{to}", grant.pk, company.bob.pk)
    assert event.data["from"] == start


@pytest.mark.parametrize(("start", "to"), ILLEGAL_GRANT, ids=[f"{a}->{b}" for a, b in ILLEGAL_GRANT])
def test_it_refuses_an_illegal_grant_move_and_changes_nothing(company, start, to):
    grant = a_grant(company, start)
    before, events = row(Grant, grant.pk), AuditEvent.objects.count()

    with pytest.raises(InvalidTransition) as caught:
        move_grant(grant, to, actor=ACTOR, message="moved", end_reason="because")

    assert f"from {start} to {to}" in str(caught.value)
    assert (grant.status, grant.end_reason) == (start, "")
    assert row(Grant, grant.pk) == before
    assert AuditEvent.objects.count() == events
