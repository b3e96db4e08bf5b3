from datetime import timedelta

import pytest

from governance import services
from governance.models import AccessRequest, Grant
from provisioning.models import LocalMembership


def submit(company, key="IT-1", **over):
    data = dict(
        jira_issue_key=key,
        requester="bob@example.com",
        application="wiki",
        role="editor",
        duration=timedelta(hours=6),
        reason="docs sprint",
    )
    data.update(over)
    return services.submit_request(data=services.RequestInput(**data))


@pytest.mark.django_db(transaction=False)
def test_it_provisions_after_manager_approval(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        req, created = submit(company)
    assert created and req.status == AccessRequest.Status.PENDING_APPROVAL
    with django_capture_on_commit_callbacks(execute=True):
        services.decide_step(request=req, actor=services.Actor.of_person(company.alice), approve=True)
    req.refresh_from_db()
    assert req.status == AccessRequest.Status.FULFILLED
    assert LocalMembership.objects.filter(person=company.bob).count() == 2
    assert req.grant.status == Grant.Status.ACTIVE
