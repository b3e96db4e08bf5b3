"""An in-memory identity provider behind the connector interface, for sync tests and the sync bench.

It plays a *provider* (what Okta or Entra would return), not our code: the sync service under test
talks to it exactly as it talks to a real connector.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

from provisioning.connectors import (
    AddResult,
    Connector,
    DirectoryApplication,
    DirectoryGroup,
    DirectoryUser,
    PermanentError,
    RemoveResult,
    UserRef,
    register,
)


class FakeDirectory(Connector):
    """Users, groups, members and applications held in dicts; `calls` counts each method used."""

    def __init__(self, name: str = "fakeidp", *, latency: float = 0.0, page_size: int = 200) -> None:
        self.name = name
        self.users: dict[str, DirectoryUser] = {}
        self.groups: dict[str, DirectoryGroup] = {}
        self.members: dict[str, set[str]] = {}
        self.apps: dict[str, DirectoryApplication] = {}
        self.calls: Counter[str] = Counter()
        self.latency = latency
        self.page_size = page_size

    def install(self) -> FakeDirectory:
        """Register under `self.name` so connector_for(name) returns this directory."""
        register(self.name, lambda: self)
        return self

    # building the provider's state
    def user(self, external_id: str, email: str, name: str = "", **extra) -> DirectoryUser:
        user = DirectoryUser(external_id=external_id, email=email, name=name or email.split("@")[0], status="active")
        for key, value in extra.items():
            setattr(user, key, value)
        self.users[external_id] = user
        return user

    def group(self, external_id: str, name: str = "", *members: str) -> DirectoryGroup:
        self.groups[external_id] = DirectoryGroup(external_id=external_id, name=name or external_id)
        self.members[external_id] = set(members)
        return self.groups[external_id]

    def app(self, external_id: str, name: str, *group_ids: str) -> DirectoryApplication:
        self.apps[external_id] = DirectoryApplication(external_id=external_id, name=name, group_ids=list(group_ids))
        return self.apps[external_id]

    # the connector interface, paged like a real API (one "call" per page)
    def _pages(self, kind: str, items: list) -> Iterator:
        for start in range(0, max(len(items), 1), self.page_size):
            self.calls[kind] += 1
            if self.latency:
                time.sleep(self.latency)
            yield from items[start : start + self.page_size]

    def iter_users(self) -> Iterator[DirectoryUser]:
        return self._pages("iter_users", list(self.users.values()))

    def iter_groups(self) -> Iterator[DirectoryGroup]:
        return self._pages("iter_groups", list(self.groups.values()))

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        if group_id not in self.members:
            raise PermanentError(f"no group {group_id}", status=404)
        return self._pages("iter_group_members", sorted(self.members[group_id]))

    def iter_applications(self, concurrency: int = 1) -> Iterator[DirectoryApplication]:
        return self._pages("iter_applications", list(self.apps.values()))

    def _id_of(self, user: UserRef) -> str:
        if user.external_id in self.users:
            return user.external_id
        for external_id, known in self.users.items():
            if known.email.lower() == user.email.lower():
                return external_id
        raise PermanentError(f"no user {user.email}", status=404)

    def add_member(self, group_id: str, user: UserRef) -> AddResult:
        self.calls["add_member"] += 1
        members = self.members[group_id]
        user_id = self._id_of(user)
        if user_id in members:
            return AddResult.ALREADY_MEMBER
        members.add(user_id)
        return AddResult.ADDED

    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult:
        self.calls["remove_member"] += 1
        user_id = self._id_of(user)
        if user_id not in self.members[group_id]:
            return RemoveResult.NOT_A_MEMBER
        self.members[group_id].discard(user_id)
        return RemoveResult.REMOVED

    def read_users(self, external_ids: list[str]) -> dict[str, DirectoryUser | None]:
        """Like a provider asked by id: the user, or None (no such user) once deleted."""
        self.calls["read_users"] += 1
        return {external_id: self.users.get(external_id) for external_id in external_ids}

    def find_user_by_email(self, email: str) -> DirectoryUser | None:
        self.calls["find_user_by_email"] += 1
        return next((u for u in self.users.values() if u.email.lower() == email.lower()), None)
