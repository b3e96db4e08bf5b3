"""The connector interface every identity provider implements, and its typed errors (the shared
DeliveryError, so the outbox engine records them like any other delivery failure)."""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from lib.errors import DeliveryError
from lib.http import RateWindow
from lib.outbox.flight import DoneAtOnce


class ConnectorError(DeliveryError):
    """A provider call failed. `retryable` errors (429, 5xx, timeouts) may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        throttled: bool | None = None,
    ):
        super().__init__(message, retryable=retryable, retry_after=retry_after, status=status, throttled=throttled)


class RetryableError(ConnectorError):
    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        throttled: bool | None = None,
    ):
        super().__init__(message, retryable=True, retry_after=retry_after, status=status, throttled=throttled)


class PermanentError(ConnectorError):
    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message, retryable=False, status=status)


class CursorExpired(PermanentError):
    """The provider no longer knows the change cursor a listing resumed from (e.g. Graph's 410
    `syncStateNotFound`): the directory has to be read in full."""


#: `DirectoryUser.state` of a user the provider says no longer exists
DELETED_STATE = "deleted"


class AddResult(enum.Enum):
    ADDED = "added"
    ALREADY_MEMBER = "already_member"


class RemoveResult(enum.Enum):
    REMOVED = "removed"
    NOT_A_MEMBER = "not_a_member"


@dataclass(frozen=True)
class UserRef:
    """Who a change is about: the email always, the provider's id when Gatehouse knows it."""

    email: str
    external_id: str | None = None


@dataclass(frozen=True)
class MemberChange:
    """One membership write of a batch (`Connector.apply_changes`)."""

    ADD: ClassVar[str] = "add"
    REMOVE: ClassVar[str] = "remove"

    action: str  # ADD | REMOVE
    group_id: str
    user: UserRef


@dataclass
class DirectoryUser:
    """A user as the provider lists it. `status` is decided from an explicit provider state only;
    `state` is that state as the provider names it (e.g. Okta `SUSPENDED`, Entra
    `accountEnabled=false`, or `deleted`), kept on the person for the leaver path."""

    external_id: str
    email: str
    name: str
    status: str  # "active" | "suspended" | "deprovisioned"
    manager_email: str | None = None
    manager_external_id: str | None = None  # the manager's id at the provider, when it gives one
    manager_name: str | None = None  # a display name, matched only when exactly one person has it
    manager_known: bool = True  # False when this listing does not say who the manager is (keep it)
    state: str = ""
    department: str = ""
    title: str = ""
    last_login: datetime | None = None
    last_login_known: bool = True  # False when the provider cannot say (e.g. unlicensed)
    aliases: tuple[str, ...] = ()  # other addresses of the same person, where the provider has them
    org_unit: str = ""  # the provider's organisational unit path (Google's orgUnitPath)


@dataclass
class DirectoryGroup:
    external_id: str
    name: str
    description: str = ""
    writable: bool = True  # False for groups the provider will not let us change
    not_writable_reason: str = ""  # why not, in words an IT admin can act on


@dataclass
class DirectoryApplication:
    external_id: str
    name: str
    group_ids: list[str] = field(default_factory=list)


class Connector(abc.ABC):
    """One identity provider. Implementations must make add/remove idempotent."""

    name: str = ""

    def __repr__(self) -> str:
        # Never the settings: a connector holds credentials.
        return f"<{type(self).__name__} {self.name!r}>"

    @abc.abstractmethod
    def iter_users(self) -> Iterator[DirectoryUser]: ...

    @abc.abstractmethod
    def iter_groups(self) -> Iterator[DirectoryGroup]: ...

    @abc.abstractmethod
    def iter_group_members(self, group_id: str) -> Iterator[str]:
        """External ids of the group's direct members."""

    @abc.abstractmethod
    def add_member(self, group_id: str, user: UserRef) -> AddResult: ...

    @abc.abstractmethod
    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult: ...

    @abc.abstractmethod
    def find_user_by_email(self, email: str) -> DirectoryUser | None: ...

    #: True when add/remove answer alike whether or not the membership existed (Okta): the
    #: caller then tells "already a member" from its own records of the directory
    blind_writes: bool = False

    def change_bucket(self, group_id: str) -> str | None:
        """The provider's rate-limit bucket a membership write counts against (None: unlimited)."""
        return None

    def take_rate_windows(self) -> dict[str, RateWindow]:
        """Bucket -> what the provider last said about it, since the previous call."""
        return {}

    def begin_writes(self, concurrency: int = 1) -> WritesInFlight:
        """A set of writes that more can join while some are under way (`WritesInFlight`).
        Default: each `begin` makes its writes at once through `apply_changes`."""
        return WritesInFlight(self, concurrency)

    def apply_changes(self, changes: list[MemberChange], concurrency: int = 1) -> list[Any]:
        """Make the writes; one outcome per change, in order: its AddResult / RemoveResult, or the
        ConnectorError it met (errors never stop the others). Connectors whose SDK is async run up
        to `concurrency` at once; the default makes them one after the other."""
        outcomes: list[Any] = []
        for change in changes:
            try:
                if change.action == MemberChange.ADD:
                    outcomes.append(self.add_member(change.group_id, change.user))
                else:
                    outcomes.append(self.remove_member(change.group_id, change.user))
            except ConnectorError as error:
                outcomes.append(error)
        return outcomes

    #: True when the connector lists what changed since a time (`iter_users_changed_since`,
    #: `iter_groups_changed_since`), so that a resync need not read the whole directory
    lists_changes_since: bool = False
    #: True when those listings resume from a cursor the provider hands out (Graph's delta links)
    #: rather than from the time: the sync stores `change_cursor` between runs, gets a fresh one
    #: from `begin_change_tracking()` before each full pass, and reads in full on CursorExpired
    uses_change_cursor: bool = False

    def iter_applications(self, concurrency: int = 1) -> Iterator[DirectoryApplication]:
        """The provider's applications and the groups assigned to each; connectors that read the
        assignments of several applications at once use up to `concurrency` requests in flight."""
        return iter(())

    def prefetch_full_pass(self, group_ids: list[str], concurrency: int = 1) -> None:
        """Start, in the background where the connector can, the reads of a full pass that do not
        depend on the users: the groups listing, the applications and the members of `group_ids`
        (at most `concurrency` member or assignment listings in flight). `iter_groups`,
        `iter_applications` and `read_group_members` then hand out what was read. Default:
        nothing (everything is read when asked for)."""

    def read_group_members(self, group_ids: list[str], concurrency: int = 1) -> dict[str, list[str] | ConnectorError]:
        """Members (external ids) of each group, or the error reading it; errors never stop the
        other groups. Connectors that can read several groups at once use up to `concurrency`
        requests in flight. Default: one group after the other."""
        found: dict[str, list[str] | ConnectorError] = {}
        for group_id in group_ids:
            try:
                found[group_id] = list(self.iter_group_members(group_id))
            except ConnectorError as error:
                found[group_id] = error
        return found

    def iter_users_changed_since(self, since: datetime) -> Iterator[DirectoryUser]:
        """Users created or changed (including their status) after `since`, departed ones included."""
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot list changes")

    def iter_groups_changed_since(self, since: datetime) -> Iterator[DirectoryGroup]:
        """Groups created, renamed or whose members changed after `since`."""
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot list changes")

    def begin_change_tracking(self) -> dict[str, str]:
        """A change cursor (collection -> provider link) from which the next listing of changes starts."""
        raise NotImplementedError(f"{self.name or type(self).__name__} has no change cursor")

    def read_users(self, external_ids: list[str]) -> dict[str, DirectoryUser | None]:
        """The provider's current answer for users a listing left out: the user, or None when the
        provider says it does not exist (deleted). Ids it cannot answer for are left out, and
        the sync then decides nothing about them. Default: no answer for any."""
        return {}

    def close(self) -> None:
        """Release connections; called when the connector is no longer needed."""


class WritesInFlight(DoneAtOnce):
    """Membership writes begun on one connector and not yet collected, each under a key of the
    caller's, collected as (key, outcome). This one makes a `begin`'s writes before it returns;
    connectors whose SDK is async start them and let later `begin`s join while they are under way
    (`room` says how many more would start at once)."""

    def __init__(self, connector: Connector, concurrency: int):
        super().__init__()
        self.connector, self.concurrency = connector, max(concurrency, 1)

    def begin(self, keyed: list[tuple[Any, MemberChange]]) -> None:
        outcomes = self.connector.apply_changes([change for _, change in keyed], self.concurrency)
        self._finished += [(key, outcome) for (key, _), outcome in zip(keyed, outcomes, strict=True)]
