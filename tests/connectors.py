"""Our test double of an identity *provider*: the local directory, failing when told to.

It is registered in the real connector registry and reached through the real outbox; nothing
of ours is mocked. Groups whose `connector` is "flaky" are served by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from provisioning.connectors import AddResult, ConnectorError, RemoveResult, UserRef
from provisioning.connectors.base import Connector
from provisioning.connectors.local.connector import LocalConnector
from provisioning.models import MembershipChange
from provisioning.outbox import services


@dataclass
class FlakyProvider:
    """What the provider will do next, and what it was asked."""

    failures: list[ConnectorError] = field(default_factory=list)
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def fail(self, times: int, error: ConnectorError) -> None:
        """Raise `error` on each of the next `times` add/remove calls."""
        self.failures.extend([error] * times)

    def changes(self, action: str | None = None) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if action is None or c[0] == action]


class FlakyConnector(LocalConnector):
    name = "flaky"
    apply_changes = Connector.apply_changes  # one call per change, each answered as told

    def __init__(self, provider: FlakyProvider):
        self.provider = provider

    def _answer(self, action: str, group_id: str, user: UserRef) -> None:
        self.provider.calls.append((action, group_id, user.email))
        if self.provider.failures:
            raise self.provider.failures.pop(0)

    def add_member(self, group_id: str, user: UserRef) -> AddResult:
        self._answer("add", group_id, user)
        return super().add_member(group_id, user)

    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult:
        self._answer("remove", group_id, user)
        return super().remove_member(group_id, user)


def run_until_settled(change: MembershipChange, traveller, *, rounds: int = 10) -> MembershipChange:
    """Execute the change through the outbox; when it is re-queued, move the clock to its next attempt."""
    for _ in range(rounds):
        services.execute_change(change.pk)
        change.refresh_from_db()
        if change.status in MembershipChange.TERMINAL:
            return change
        traveller.move_to(change.next_attempt_at + timedelta(seconds=1))
    return change
