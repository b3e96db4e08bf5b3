"""The embedded directory: people and groups held in Gatehouse's own database."""

from __future__ import annotations

from collections.abc import Iterator

from catalog.models import IdpGroup, Person
from provisioning.connectors.base import (
    AddResult,
    Connector,
    DirectoryGroup,
    DirectoryUser,
    PermanentError,
    RemoveResult,
    UserRef,
)
from provisioning.models import LocalMembership


class LocalConnector(Connector):
    """Lets the whole product run with no external account: the database is the provider."""

    name = "local"

    def _person(self, user: UserRef) -> Person:
        person = Person.objects.filter(email__iexact=user.email).first()
        if person is None:
            raise PermanentError(f"No user {user.email} in the local directory.", status=404)
        return person

    def _group(self, group_id: str) -> IdpGroup:
        group = IdpGroup.objects.filter(connector=self.name, external_id=group_id).first()
        if group is None:
            raise PermanentError(f"No group {group_id!r} in the local directory.", status=404)
        return group

    def iter_users(self) -> Iterator[DirectoryUser]:
        for person in Person.objects.select_related("manager").iterator(chunk_size=2000):
            yield self._as_user(person)

    def iter_groups(self) -> Iterator[DirectoryGroup]:
        for group in IdpGroup.objects.filter(connector=self.name).iterator():
            yield DirectoryGroup(external_id=group.external_id, name=group.name, description=group.description)

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        group = self._group(group_id)
        rows = LocalMembership.objects.filter(group=group).values_list("person__email", flat=True)
        yield from rows.iterator()

    def add_member(self, group_id: str, user: UserRef) -> AddResult:
        _, created = LocalMembership.objects.get_or_create(person=self._person(user), group=self._group(group_id))
        return AddResult.ADDED if created else AddResult.ALREADY_MEMBER

    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult:
        deleted, _ = LocalMembership.objects.filter(person=self._person(user), group=self._group(group_id)).delete()
        return RemoveResult.REMOVED if deleted else RemoveResult.NOT_A_MEMBER

    def find_user_by_email(self, email: str) -> DirectoryUser | None:
        person = Person.objects.select_related("manager").filter(email__iexact=email).first()
        return self._as_user(person) if person else None

    @staticmethod
    def _as_user(person: Person) -> DirectoryUser:
        return DirectoryUser(
            external_id=person.email,
            email=person.email,
            name=person.name,
            status=person.status,
            manager_email=person.manager.email if person.manager else None,
            department=person.department,
            title=person.title,
            last_login=person.last_login_at,
        )
