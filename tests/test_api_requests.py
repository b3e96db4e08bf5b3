"""The REST API as Jira Automation uses it: submit, decide, cancel, revoke, look up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import GroupMembership
from governance.models import AccessRequest, ApprovalStep, AuditEvent, Delegation, Grant
from provisioning.models import FulfilmentTask, LocalMembership, MembershipChange
from tests import company as c

R = AccessRequest.Status
BASE = "/api/v1"
GOOD = {
    "jira_issue_key": "ITHELP-1",
    "requester": "bob@example.com",
    "application": "wiki",
    "role": "editor",
    "duration": "PT6H",
    "reason": "docs sprint",
}


def post(api, url: str, body: dict | list | None = None):
    return api.post(f"{BASE}{url}", body or {}, format="json")


def rows() -> dict[str, int]:
    models = (AccessRequest, ApprovalStep, Grant, AuditEvent, MembershipChange, FulfilmentTask)
    return {m.__name__: m.objects.count() for m in models}


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert list(error["fields"]) == [field], error
        assert all(isinstance(m, str) and m for m in error["fields"][field])
    return error


@pytest.fixture
def catalog(company):
    """Things that cannot be requested, and a privileged app whose roles need a duration."""
    legacy = c.app("legacy", status="draft")
    c.role(legacy, "user", c.group("legacy-users"))
    c.role(company.wiki, "admin", c.group("wiki-admins"), requestable=False)
    c.role(company.wiki, "orphan")
    prod = c.app("prod", owner=company.alice, risk="privileged")
    c.role(prod, "root", c.group("prod-root"), max_duration=timedelta(days=1))
    c.person("sam@example.com", status="suspended")
    return company


# Submitting -----------------------------------------------------------------------------------


def test_it_creates_a_request_and_answers_201(company, api):
    response = post(api, "/access-requests/", GOOD)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["jira_issue_key"] == "ITHELP-1" and body["status"] == R.PENDING_APPROVAL
    assert (body["requester"], body["beneficiary"], body["duration"]) == (
        "bob@example.com",
        "bob@example.com",
        "PT6H",
    )
    assert body["steps"][0]["approvers"] == ["alice@example.com"] and body["grant"] is None
    assert body["policy"] == "Default v1 (global default)"


BAD_FIELDS = [
    ("requester", {"requester": "not-an-email"}),
    ("beneficiary", {"beneficiary": "bob@"}),
    ("requester", {"requester": "nobody@example.com"}),
    ("beneficiary", {"beneficiary": "nobody@example.com"}),
    ("requester", {"requester": "sam@example.com"}),
    ("application", {"application": "no-such-app"}),
    ("application", {"application": "legacy", "role": "user"}),
    ("application", {"application": "not a slug!"}),
    ("role", {"role": "no-such-role"}),
    ("role", {"role": "admin"}),
    ("role", {"role": "orphan"}),
    ("duration", {"duration": "6 hours"}),
    ("duration", {"duration": 6}),
    ("duration", {"duration": "P99999999999D"}),
    ("duration", {"duration": "PT0S"}),
    ("duration", {"duration": "PT2H"}),
    ("duration", {"application": "prod", "role": "root", "duration": "P2D"}),
    ("duration", {"application": "prod", "role": "root", "duration": None}),
    ("reason", {"reason": "   "}),
    ("reason", {"reason": None}),
    ("jira_issue_key", {"jira_issue_key": "not a key"}),
    ("jira_issue_key", {"jira_issue_key": "123"}),
]


@pytest.mark.parametrize(("field", "change"), BAD_FIELDS, ids=[f"{f}={v}" for f, v in BAD_FIELDS])
def test_it_names_the_bad_field_and_writes_nothing(catalog, api, field, change):
    before = rows()

    response = post(api, "/access-requests/", {**GOOD, **change})

    assert_error(response, 400, "invalid", field)
    assert rows() == before


@pytest.mark.parametrize("missing", ["jira_issue_key", "requester", "application", "role", "reason"])
def test_it_names_a_missing_field(company, api, missing):
    body = {k: v for k, v in GOOD.items() if k != missing}

    assert_error(post(api, "/access-requests/", body), 400, "invalid", missing)


def test_it_accepts_a_privileged_role_with_an_allowed_duration(catalog, api):
    response = post(api, "/access-requests/", {**GOOD, "application": "prod", "role": "root", "duration": "PT4H"})

    assert response.status_code == 201, response.content


def test_it_refuses_a_body_that_is_not_an_object(company, api):
    assert_error(post(api, "/access-requests/", ["x"]), 400, "invalid")


def test_it_answers_a_repeated_submission_with_the_same_request(company, api):
    first = post(api, "/access-requests/", GOOD)
    before = rows()

    again = post(api, "/access-requests/", GOOD)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert rows() == before


def test_it_answers_409_to_the_same_key_with_a_different_body(company, api):
    post(api, "/access-requests/", GOOD)
    before = rows()

    response = post(api, "/access-requests/", {**GOOD, "duration": "P1D"})

    assert_error(response, 409, "idempotency_conflict", "jira_issue_key")
    assert rows() == before


def test_it_refuses_a_second_open_request_for_the_same_access(company, api):
    post(api, "/access-requests/", GOOD)

    response = post(api, "/access-requests/", {**GOOD, "jira_issue_key": "ITHELP-2"})

    assert_error(response, 409, "duplicate_request", "role")


def test_it_answers_404_for_an_unknown_request(company, api):
    assert_error(api.get(f"{BASE}/access-requests/NOPE-1/"), 404, "not_found")


# Deciding ----------------------------------------------------------------------------------


def test_it_approves_and_provisions(company, api, tasks):
    post(api, "/access-requests/", GOOD)

    with tasks():
        response = post(api, "/access-requests/ITHELP-1/approve/", {"approver": "alice@example.com"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == R.PROVISIONING  # rendered before the change ran
    body = api.get(f"{BASE}/access-requests/ITHELP-1/").json()
    assert body["status"] == R.FULFILLED
    assert body["steps"][0]["decided_by"] == "alice@example.com" and body["steps"][0]["channel"] == "api"
    assert body["grant"]["status"] == Grant.Status.ACTIVE
    assert {ch["group"] for ch in body["grant"]["changes"]} == {"wiki-editors", "wiki-readers"}


def test_it_denies(company, api):
    post(api, "/access-requests/", GOOD)

    response = post(api, "/access-requests/ITHELP-1/deny/", {"approver": "alice@example.com", "comment": "no"})

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_reason"]) == (R.DENIED, "no")


def _two_steps(company) -> None:
    c.policy("Wiki", "manager", "app_owner", application=company.wiki)


def _then_a_delegated_step(company) -> None:
    """Step 2's approver is away: opening it hands it to their delegate."""
    c.policy("Wiki", "manager", "named", application=company.wiki, named=[company.charlie])
    now = timezone.now()
    Delegation.objects.create(
        person=company.charlie,
        delegate=company.dana,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )


def _all_of_two(company) -> None:
    c.policy("Wiki", "named_all", application=company.wiki, named=[company.alice, company.dana])


def _manual(company) -> None:
    company.wiki.provisioning_mode = "manual"
    company.wiki.save(update_fields=["provisioning_mode"])


def _no_group(company) -> None:
    company.editor.group_mappings.all().delete()


@pytest.mark.parametrize(
    "before_submit, before_decision, action, status",
    [
        (None, None, "approve", R.PROVISIONING),
        (None, None, "deny", R.DENIED),
        (_two_steps, None, "approve", R.PENDING_APPROVAL),
        (_two_steps, None, "deny", R.DENIED),
        (_then_a_delegated_step, None, "approve", R.PENDING_APPROVAL),
        (_all_of_two, None, "approve", R.PENDING_APPROVAL),
        (_manual, None, "approve", R.PROVISIONING),
        (None, _no_group, "approve", R.FAILED),
    ],
    ids=[
        "approved",
        "denied",
        "first-of-two-steps",
        "denied-at-first-of-two-steps",
        "next-step-delegated",
        "one-of-all-approvers",
        "manual-fulfilment",
        "no-group",
    ],
)
def test_a_decision_answers_the_request_as_reading_it_afterwards_shows_it(
    company, api, before_submit, before_decision, action, status
):
    if before_submit:
        before_submit(company)
    post(api, "/access-requests/", GOOD)
    if before_decision:
        before_decision(company)

    answer = post(api, f"/access-requests/ITHELP-1/{action}/", {"approver": "alice@example.com", "comment": "ok"})

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == status
    assert answer.json() == api.get(f"{BASE}/access-requests/ITHELP-1/").json()
    if before_submit is _then_a_delegated_step:
        assert answer.json()["steps"][1]["approvers"] == ["dana@example.com"]


def test_it_finds_the_approver_whatever_the_case_even_beside_a_lookalike_address(company, api):
    c.person("alıce@example.com")  # a dotless ı: another address, the same in upper case on PostgreSQL
    post(api, "/access-requests/", GOOD)

    answer = post(api, "/access-requests/ITHELP-1/approve/", {"approver": "ALICE@example.com"})

    assert answer.status_code == 200, answer.content
    assert answer.json()["steps"][0]["decided_by"] == "alice@example.com"


@pytest.mark.parametrize("action", ["approve", "deny"])
def test_it_answers_403_to_someone_who_is_not_an_approver(company, api, action):
    post(api, "/access-requests/", GOOD)
    before = rows()

    response = post(api, f"/access-requests/ITHELP-1/{action}/", {"approver": "charlie@example.com"})

    assert_error(response, 403, "not_an_approver", "approver")
    assert rows() == before


@pytest.mark.parametrize("party", ["alice@example.com", "bob@example.com"])
def test_it_answers_403_to_self_approval(company, api, party):
    c.policy("Wiki", "named", application=company.wiki, named=[company.alice, company.bob, company.dana])
    post(api, "/access-requests/", {**GOOD, "requester": "alice@example.com", "beneficiary": "bob@example.com"})
    ApprovalStep.objects.get().approvers.add(company.alice, company.bob)
    before = rows()

    response = post(api, "/access-requests/ITHELP-1/approve/", {"approver": party})

    assert_error(response, 403, "self_approval", "approver")
    assert rows() == before


def test_it_answers_403_to_an_approver_who_is_no_longer_active(company, api):
    post(api, "/access-requests/", GOOD)
    company.alice.status = "deprovisioned"
    company.alice.save()

    response = post(api, "/access-requests/ITHELP-1/approve/", {"approver": "alice@example.com"})

    assert_error(response, 403, "inactive_approver", "approver")


@pytest.mark.parametrize("action", ["approve", "deny"])
def test_it_answers_409_when_the_request_is_not_pending(company, api, action):
    post(api, "/access-requests/", GOOD)
    post(api, "/access-requests/ITHELP-1/deny/", {"approver": "alice@example.com"})
    before = rows()

    response = post(api, f"/access-requests/ITHELP-1/{action}/", {"approver": "alice@example.com"})

    assert_error(response, 409, "not_pending")
    assert rows() == before


@pytest.mark.parametrize(
    ("body", "field"), [({}, "approver"), ({"approver": "x"}, "approver"), ({"approver": "no@example.com"}, "approver")]
)
def test_it_names_a_bad_approver(company, api, body, field):
    post(api, "/access-requests/", GOOD)

    assert_error(post(api, "/access-requests/ITHELP-1/approve/", body), 400, "invalid", field)


# Cancelling ------------------------------------------------------------------------------------


def test_it_cancels_for_the_requester(company, api):
    post(api, "/access-requests/", GOOD)

    response = post(api, "/access-requests/ITHELP-1/cancel/", {"by": "bob@example.com", "reason": "done already"})

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["status_reason"]) == (R.CANCELLED, "done already")
    assert [s["status"] for s in body["steps"]] == [ApprovalStep.Status.CANCELLED]


def test_it_refuses_cancel_by_a_stranger_and_after_the_end(company, api):
    post(api, "/access-requests/", GOOD)
    assert_error(post(api, "/access-requests/ITHELP-1/cancel/", {"by": "charlie@example.com"}), 403, "forbidden", "by")

    post(api, "/access-requests/ITHELP-1/cancel/", {"by": "bob@example.com"})

    assert_error(post(api, "/access-requests/ITHELP-1/cancel/", {"by": "bob@example.com"}), 409, "not_pending")


# Revoking --------------------------------------------------------------------------------------


@pytest.fixture
def granted(company, api, tasks) -> Grant:
    post(api, "/access-requests/", GOOD)
    with tasks():
        post(api, "/access-requests/ITHELP-1/approve/", {"approver": "alice@example.com"})
    grant = Grant.objects.get()
    assert grant.status == Grant.Status.ACTIVE
    return grant


@pytest.mark.parametrize(
    "by",
    [
        "bob@example.com",  # the holder
        "alice@example.com",  # the manager and application owner
        "dana@example.com",  # the policy's fallback approver (IT)
    ],
)
def test_it_revokes_for_someone_allowed(granted, api, tasks, by):
    with tasks():
        response = post(api, f"/grants/{granted.pk}/revoke/", {"by": by, "reason": "left team"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked"
    granted.refresh_from_db()
    assert (granted.status, granted.end_reason, granted.ended_by.email) == ("revoked", "left team", by)
    assert granted.removed_at is not None
    assert not LocalMembership.objects.filter(person=granted.person).exists()


def test_it_answers_403_to_someone_who_may_not_revoke(granted, api):
    before = rows()

    response = post(api, f"/grants/{granted.pk}/revoke/", {"by": "charlie@example.com", "reason": "because"})

    assert_error(response, 403, "forbidden", "by")
    assert rows() == before


def test_it_answers_409_when_the_grant_is_not_live(granted, api, tasks):
    with tasks():
        post(api, f"/grants/{granted.pk}/revoke/", {"by": "dana@example.com", "reason": "audit finding"})
    before = rows()

    response = post(api, f"/grants/{granted.pk}/revoke/", {"by": "dana@example.com", "reason": "again"})

    assert_error(response, 409, "not_live")
    assert rows() == before


def test_it_needs_a_reason_to_revoke(granted, api):
    assert_error(post(api, f"/grants/{granted.pk}/revoke/", {"by": "alice@example.com"}), 400, "invalid", "reason")


def test_it_answers_404_for_an_unknown_grant(company, api):
    assert_error(post(api, "/grants/999/revoke/", {"by": "alice@example.com", "reason": "x"}), 404, "not_found")


# Looking up ----------------------------------------------------------------------------------


def test_it_shows_a_persons_active_grants_and_memberships(granted, api):
    response = api.get(f"{BASE}/people/BOB@example.com/")

    assert response.status_code == 200
    body = response.json()
    assert (body["email"], body["manager"]) == ("bob@example.com", "alice@example.com")
    [grant] = body["active_grants"]
    assert (grant["id"], grant["role"], grant["request"], grant["status"]) == (
        granted.pk,
        "editor",
        "ITHELP-1",
        "active",
    )
    assert [(m["group"], m["origin"]) for m in body["memberships"]] == [
        ("wiki-editors", GroupMembership.Origin.GATEHOUSE),
        ("wiki-readers", GroupMembership.Origin.GATEHOUSE),
    ]


def test_it_leaves_ended_grants_out_of_a_person(granted, api, tasks):
    with tasks():
        post(api, f"/grants/{granted.pk}/revoke/", {"by": "alice@example.com", "reason": "done"})

    body = api.get(f"{BASE}/people/bob@example.com/").json()

    assert body["active_grants"] == [] and body["memberships"] == []


def test_it_answers_404_for_an_unknown_person(company, api):
    assert_error(api.get(f"{BASE}/people/nobody@example.com/"), 404, "not_found")


def test_it_lists_requestable_applications_with_roles_and_routes(catalog, api):
    c.policy("Prod", "manager", "app_owner", "named", application=catalog.wiki, named=[catalog.dana])

    response = api.get(f"{BASE}/applications/")

    assert response.status_code == 200
    apps = {a["slug"]: a for a in response.json()}
    assert set(apps) == {"wiki", "prod"}  # the draft app is not requestable
    wiki = apps["wiki"]
    assert wiki["owner"] == "alice@example.com"
    roles = {r["slug"]: r for r in wiki["roles"]}
    assert set(roles) == {"editor", "reader", "orphan"}  # "admin" is not requestable
    assert roles["editor"]["allowed_durations"] == ["PT6H", "P1D", "P7D"]
    assert roles["editor"]["approval_route"] == [
        {"order": 1, "kind": "manager", "approvers": []},
        {"order": 2, "kind": "app_owner", "approvers": ["alice@example.com"]},
        {"order": 3, "kind": "named", "approvers": ["dana@example.com"]},
    ]
    [root] = apps["prod"]["roles"]
    assert (root["duration_required"], root["max_duration"]) == (True, "P1D")
    assert root["approval_route"] == [{"order": 1, "kind": "manager", "approvers": []}]
