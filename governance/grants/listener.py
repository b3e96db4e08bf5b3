"""governance's side of provisioning's "change settled" port."""

from __future__ import annotations

from governance.grants import services
from provisioning.models import FulfilmentTask, MembershipChange


class GrantListener:
    """Moves grants on when their changes settle (implements provisioning.outbox.port.SettledListener)."""

    def change_settled(self, change: MembershipChange) -> None:
        services.membership_change_failed(change)

    def changes_settled(self, changes: list[MembershipChange]) -> None:
        services.membership_changes_succeeded(changes)

    def fulfilment_done(self, task: FulfilmentTask) -> None:
        services.fulfilment_task_done(task)
