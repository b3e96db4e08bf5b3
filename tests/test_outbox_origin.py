"""Whether an "already a member" result means pre-existing access depends on what came before."""

import pytest

from catalog.models import GroupMembership
from provisioning import connectors
from provisioning.connectors.base import Connector, RetryableError
from provisioning.connectors.local.connector import LocalConnector
from provisioning.models import MembershipChange
from provisioning.outbox import services


class AppliedThenTimedOut(LocalConnector):
    """Applies the add, then loses the reply (as a gateway timeout would), once."""

    name = "flaky"
    failures: list[RetryableError] = []
    apply_changes = Connector.apply_changes  # one call per change, each answered as told

    def _group(self, group_id):
        from catalog.models import IdpGroup

        return IdpGroup.objects.get(connector="flaky", external_id=group_id)

    def add_member(self, group_id, user):
        result = super().add_member(group_id, user)
        if self.failures:
            raise self.failures.pop(0)
        return result


@pytest.fixture
def flaky(db):
    connectors.register("flaky", AppliedThenTimedOut)
    yield AppliedThenTimedOut
    connectors._FACTORIES.pop("flaky", None)


@pytest.mark.parametrize("status,origin", [(504, "gatehouse"), (429, "external")])
def test_it_records_origin_after_a_retry(company, flaky, status, origin, time_machine):
    from django.utils import timezone

    from tests import company as c

    time_machine.move_to(timezone.now(), tick=False)
    group = c.group("flaky-group", connector="flaky")
    flaky.failures = [RetryableError("lost reply", status=status, retry_after=1)]
    change = services.queue_change(action="add", person=company.bob, group=group)
    services.execute_change(change.pk)
    change.refresh_from_db()
    assert (change.status, change.maybe_applied) == ("queued", status != 429)
    time_machine.shift(3600)
    services.execute_change(change.pk)
    change.refresh_from_db()
    assert (change.status, change.result) == ("succeeded", MembershipChange.Result.ALREADY_MEMBER)
    assert GroupMembership.objects.get(person=company.bob, group=group).origin == origin
