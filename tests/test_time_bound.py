"""Issue 5: duration policy, exact expiry, warnings, extensions, break-glass."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from governance import services
from governance.errors import InvalidInput, NotAllowed
from governance.grants.expiry import send_expiry_warnings
from governance.models import (
    AccessRequest,
    ApprovalPolicy,
    AuditEvent,
    EmergencyReview,
    ExpiryWarning,
    Grant,
    PolicyStep,
)
from provisioning.models import LocalMembership, MembershipChange
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def submit(key="IT-1", requester="bob@example.com", role="editor", app="wiki", **over):
    data = {
        "jira_issue_key": key,
        "requester": requester,
        "application": app,
        "role": role,
        "duration": timedelta(hours=6),
        "reason": "docs",
        **over,
    }
    return services.submit_request(data=services.RequestInput(**data))[0]


def granted(company, capture, key="IT-1", **over) -> Grant:
    with capture(execute=True):
        request = submit(key=key, **over)
        services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    return Grant.objects.get(request=request)


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"default_duration": -H}, "default_duration"),
        ({"max_duration": timedelta(0)}, "max_duration"),
        ({"allowed_durations": ["P2D"], "max_duration": timedelta(days=1)}, "allowed_durations"),
        ({"allowed_durations": ["6 hours"]}, "allowed_durations"),
        ({"default_duration": timedelta(days=2), "max_duration": timedelta(days=1)}, "default_duration"),
        ({"allowed_durations": ["PT1H"], "default_duration": 2 * H}, "default_duration"),
        ({"break_glass_max_duration": H}, "break_glass_max_duration"),
        ({"break_glass_allowed": True, "break_glass_max_duration": -H}, "break_glass_max_duration"),
    ],
)
def test_it_validates_every_duration_field(company, fields, field):
    role = company.editor
    for name, value in fields.items():
        setattr(role, name, value)
    with pytest.raises(ValidationError) as error:
        role.full_clean()
    assert field in error.value.message_dict


@pytest.mark.parametrize("tier,required", [("low", False), ("medium", False), ("high", True), ("privileged", True)])
def test_it_requires_a_duration_by_default_for_high_and_privileged(company, tier, required):
    company.wiki.risk_tier = tier
    company.wiki.save()
    company.reader.refresh_from_db()
    assert company.reader.requires_duration is required


def test_it_refuses_a_privileged_request_without_duration_clearly(company):
    company.wiki.risk_tier = "privileged"
    company.wiki.save()
    with pytest.raises(InvalidInput) as error:
        submit(duration=None)
    assert error.value.field == "duration"
    assert "requires a duration: PT6H, P1D, P7D" in error.value.message and "privileged" in error.value.message


def test_it_applies_the_role_default(company):
    company.reader.default_duration = timedelta(days=3)
    company.reader.save()
    assert submit(role="reader", duration=None).duration == timedelta(days=3)


@pytest.mark.parametrize("maximum,expected", [(None, timedelta(days=30)), (timedelta(days=7), timedelta(days=7))])
def test_it_gives_contractors_expiring_access_by_default(company, maximum, expected):
    company.bob.is_contractor = True
    company.bob.save()
    company.reader.max_duration = maximum
    company.reader.save()
    request = submit(role="reader", duration=None)
    assert request.duration == expected
    assert AuditEvent.objects.get(request=request, action="request.submitted").data["duration_source"] == (
        "the contractor default"
    )
    # Not a contractor: the role's maximum when it has one (never an open end under a maximum), else no end.
    assert submit(key="IT-2", requester="charlie@example.com", role="reader", duration=None).duration == maximum


@pytest.mark.parametrize("offset,expired", [(-1, False), (0, True), (1, True)])
def test_it_expires_at_the_second(company, django_capture_on_commit_callbacks, offset, expired):
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks)
    with (
        time_machine.travel(grant.expires_at + timedelta(seconds=offset), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.expire_due_grants()
    grant.refresh_from_db()
    assert (grant.status == Grant.Status.EXPIRED) is expired
    assert LocalMembership.objects.filter(person=company.bob).exists() is not expired
    if expired:
        assert grant.ended_at == grant.expires_at + timedelta(seconds=offset) and grant.removed_at is not None


def test_it_catches_up_after_downtime_in_expiry_order(company, django_capture_on_commit_callbacks):
    reader = c.person("rita@example.com", manager=company.alice)
    grants = []
    with time_machine.travel(T0, tick=False):
        for i, (email, hours) in enumerate(
            [("bob@example.com", 6), ("rita@example.com", 1), ("charlie@example.com", 3)]
        ):
            person = {"bob@example.com": company.bob, "rita@example.com": reader}.get(email)
            if person is None:
                company.charlie.manager = company.alice
                company.charlie.save()
            grants.append(
                granted(
                    company,
                    django_capture_on_commit_callbacks,
                    key=f"IT-{i}",
                    requester=email,
                    role="reader",
                    duration=timedelta(hours=hours),
                )
            )
    with time_machine.travel(T0 + timedelta(days=1), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.expire_due_grants() == 3
    order = list(AuditEvent.objects.filter(action="grant.expired").order_by("id").values_list("grant_id", flat=True))
    assert order == [grants[1].pk, grants[2].pk, grants[0].pk]


def test_it_extends_within_policy_keeping_the_membership(company, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks)
        first_end = grant.expires_at
        with django_capture_on_commit_callbacks(execute=True):
            _, routed = services.extend_grant(
                grant=grant, actor=services.Actor.of_person(company.bob), added=timedelta(days=1), reason="more docs"
            )
    grant.refresh_from_db()
    assert routed is None and grant.expires_at == first_end + timedelta(days=1)
    assert grant.status == Grant.Status.ACTIVE
    assert not MembershipChange.objects.filter(grants=grant, action="remove").exists()
    assert LocalMembership.objects.filter(person=company.bob).count() == 2
    extension = grant.extensions.get()
    assert extension.approved_without_round and extension.previous_expires_at == first_end


def test_it_refuses_an_extension_over_the_maximum_without_an_exception_route(
    company, django_capture_on_commit_callbacks
):
    company.editor.max_duration = timedelta(days=1)
    company.editor.save()
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks)
        with pytest.raises(InvalidInput) as error:
            services.extend_grant(
                grant=grant, actor=services.Actor.of_person(company.bob), added=timedelta(days=1), reason="more"
            )
    assert error.value.field == "duration" and "hard limit" in error.value.message
    assert not AccessRequest.objects.filter(extends_grant=grant).exists() and not grant.extensions.exists()


def test_an_extension_routed_normally_cannot_pass_the_maximum_once_approved(
    company, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks)
        _, routed = services.extend_grant(  # two days is not one of the role's durations: routed for approval
            grant=grant, actor=services.Actor.of_person(company.bob), added=timedelta(days=2), reason="x"
        )
        company.editor.max_duration = timedelta(days=2)  # meanwhile the maximum was lowered
        company.editor.save()
        with django_capture_on_commit_callbacks(execute=True):
            services.decide_step(request=routed, actor=services.Actor.of_person(company.alice), approve=True)
    routed.refresh_from_db()
    assert routed.status == AccessRequest.Status.FAILED and "hard limit" in routed.status_reason
    assert not grant.extensions.exists()


def test_it_routes_an_extension_over_the_maximum_through_the_exception_route(
    company, django_capture_on_commit_callbacks
):
    company.editor.max_duration = timedelta(days=1)
    company.editor.save()
    # Inactive: it routes nothing by itself, only extensions past a maximum.
    exception = ApprovalPolicy.objects.create(name="Security exception", is_active=False)
    PolicyStep.objects.create(policy=exception, order=1, kind="named").approvers.set([company.alice])
    company.default_policy.exception_policy = exception
    company.default_policy.save()
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks)
        end = grant.expires_at
        _, routed = services.extend_grant(
            grant=grant,
            actor=services.Actor.of_person(company.bob),
            added=timedelta(days=1),
            reason="conference",
            jira_issue_key="IT-77",
        )
        assert routed.status == AccessRequest.Status.PENDING_APPROVAL and routed.extends_grant == grant
        assert "exceed the role's maximum" in AuditEvent.objects.get(action="grant.extension_requested").message
        with django_capture_on_commit_callbacks(execute=True):
            services.decide_step(request=routed, actor=services.Actor.of_person(company.alice), approve=True)
    routed.refresh_from_db()
    grant.refresh_from_db()
    assert routed.status == AccessRequest.Status.FULFILLED
    assert grant.expires_at == end + timedelta(days=1) and Grant.objects.count() == 1
    extension = grant.extensions.get()
    assert not extension.approved_without_round
    assert extension.exception_route.startswith("exception route: Security exception")
    assert routed.policy == exception


def test_it_refuses_an_extension_by_a_stranger(company, django_capture_on_commit_callbacks):
    grant = granted(company, django_capture_on_commit_callbacks)
    with pytest.raises(NotAllowed):
        services.extend_grant(grant=grant, actor=services.Actor.of_person(company.charlie), added=H, reason="x")


def test_it_warns_once_per_lead_even_when_the_sweep_runs_twice(company, mailoutbox, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks, duration=timedelta(days=7))
    mailoutbox.clear()
    with time_machine.travel(grant.expires_at - timedelta(days=1, seconds=1), tick=False):
        assert send_expiry_warnings() == 0
    with (
        time_machine.travel(grant.expires_at - timedelta(days=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert send_expiry_warnings() == 1
        assert send_expiry_warnings() == 0
    with time_machine.travel(grant.expires_at - H, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert send_expiry_warnings() == 1
        assert send_expiry_warnings() == 0
    assert ExpiryWarning.objects.filter(grant=grant).count() == 2
    assert len(mailoutbox) == 2 and "/extend/" in mailoutbox[0].body
    assert AuditEvent.objects.filter(grant=grant, action="grant.expiry_warning").count() == 2


def test_it_skips_warnings_longer_than_the_grant(company, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks)  # six hours: no one-day warning
    with time_machine.travel(grant.expires_at - timedelta(minutes=59), tick=False):
        assert send_expiry_warnings() == 1
    assert list(ExpiryWarning.objects.values_list("lead_seconds", flat=True)) == [3600]


@pytest.fixture
def break_glass(company):
    company.editor.break_glass_allowed = True
    company.editor.save()
    return company.editor


def test_it_grants_break_glass_at_once_and_asks_for_review(
    company, break_glass, django_capture_on_commit_callbacks, mailoutbox
):
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        request = submit(duration=None, emergency=True, reason="prod is down")
    request.refresh_from_db()
    grant = request.grant
    assert request.is_emergency and request.status == AccessRequest.Status.FULFILLED
    assert grant.status == Grant.Status.ACTIVE and grant.expires_at == T0 + H
    assert AuditEvent.objects.filter(request=request, data__emergency=True).count() >= 3
    review = EmergencyReview.objects.get(request=request)
    assert list(review.reviewers.values_list("email", flat=True)) == ["alice@example.com"]
    assert any("EMERGENCY" in m.subject for m in mailoutbox)
    with pytest.raises(NotAllowed):
        services.review_emergency(request=request, actor=services.Actor.of_person(company.bob), confirm=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.review_emergency(
            request=request, actor=services.Actor.of_person(company.alice), confirm=False, comment="not an emergency"
        )
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED and not LocalMembership.objects.filter(person=company.bob).exists()


@pytest.mark.parametrize("role,duration,field", [("reader", None, "emergency"), ("editor", 2 * H, "duration")])
def test_it_refuses_break_glass_outside_policy(company, break_glass, role, duration, field):
    with pytest.raises(InvalidInput) as error:
        submit(role=role, duration=duration, emergency=True)
    assert error.value.field == field
    assert not AccessRequest.objects.exists()


def test_it_refuses_durations_past_ten_years_before_writing_anything(company):
    with pytest.raises(InvalidInput) as error:
        submit(role="reader", duration=timedelta(days=3_000_000))
    assert error.value.field == "duration" and "ten years" in error.value.message
    assert not AccessRequest.objects.exists()
    company.reader.default_duration = timedelta(days=4000)
    with pytest.raises(ValidationError) as invalid:
        company.reader.full_clean()
    assert "default_duration" in invalid.value.message_dict


def test_it_refuses_an_extension_past_ten_years(company, django_capture_on_commit_callbacks):
    grant = granted(company, django_capture_on_commit_callbacks, role="reader", duration=timedelta(days=3000))
    with pytest.raises(InvalidInput, match="ten years"):
        services.extend_grant(
            grant=grant, actor=services.Actor.of_person(company.bob), added=timedelta(days=1000), reason="x"
        )
    assert not grant.extensions.exists()


@pytest.mark.parametrize("departments", ["Engineering", [], [""], [3]])
def test_it_validates_auto_approval_departments(company, departments):
    from governance.models import AutoApprovalRule

    rule = AutoApprovalRule(name="Eng", role=company.reader, departments=departments)
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "departments" in error.value.message_dict
