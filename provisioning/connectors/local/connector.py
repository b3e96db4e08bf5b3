"""The embedded directory: people and groups held in Gatehouse's own database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError, transaction

from catalog.models import IdpGroup, Person
from provisioning.connectors.base import (
    AddResult,
    Connector,
    ConnectorError,
    DirectoryGroup,
    DirectoryUser,
    MemberChange,
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

    def apply_changes(self, changes: list[MemberChange], concurrency: int = 1) -> list[Any]:
        """A batch in a fixed number of queries: one read of who is in, one insert, one delete."""
        pairs = [(change.user.email, change.group_id) for change in changes]
        if len(set(pairs)) < len(pairs):  # the same membership twice: one after the other
            return super().apply_changes(changes, concurrency)
        people = self._people({change.user.email for change in changes})
        groups = dict(
            IdpGroup.objects.filter(connector=self.name, external_id__in={c.group_id for c in changes}).values_list(
                "external_id", "id"
            )
        )
        outcomes: list[Any] = []
        wanted: list[tuple[int, int] | None] = []
        for change in changes:
            person_id, group_id = people.get(change.user.email.lower()), groups.get(change.group_id)
            if person_id is None:
                outcomes.append(PermanentError(f"No user {change.user.email} in the local directory.", status=404))
            elif group_id is None:
                outcomes.append(PermanentError(f"No group {change.group_id!r} in the local directory.", status=404))
            else:
                outcomes.append(None)
            wanted.append(None if outcomes[-1] is not None else (person_id, group_id))
        held = self._held([pair for pair in wanted if pair is not None])
        failure = self._write(changes, wanted, held)
        for index, (change, pair) in enumerate(zip(changes, wanted, strict=True)):
            if pair is None:
                continue
            if failure is not None:
                outcomes[index] = failure
            elif change.action == MemberChange.ADD:
                outcomes[index] = AddResult.ALREADY_MEMBER if pair in held else AddResult.ADDED
            else:
                outcomes[index] = RemoveResult.REMOVED if pair in held else RemoveResult.NOT_A_MEMBER
        return outcomes

    @staticmethod
    def _people(emails: set[str]) -> dict[str, int]:
        """lower-cased email -> person id: exact matches first (indexed), then any other spelling."""
        found = {email.lower(): pk for email, pk in Person.objects.filter(email__in=emails).values_list("email", "id")}
        for email in emails:
            if email.lower() not in found:
                person = Person.objects.filter(email__iexact=email).values_list("id", flat=True).first()
                if person is not None:
                    found[email.lower()] = person
        return found

    @staticmethod
    def _held(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """(person, group) -> membership id, for the pairs that are members now."""
        if not pairs:
            return {}
        rows = LocalMembership.objects.filter(
            person_id__in={p for p, _ in pairs}, group_id__in={g for _, g in pairs}
        ).values_list("person_id", "group_id", "id")
        wanted = set(pairs)
        return {(p, g): pk for p, g, pk in rows if (p, g) in wanted}

    @staticmethod
    def _write(
        changes: list[MemberChange], wanted: list[tuple[int, int] | None], held: dict[tuple[int, int], int]
    ) -> ConnectorError | None:
        """Insert the missing members and delete the leaving ones; the error when that failed."""
        adds = [
            LocalMembership(person_id=pair[0], group_id=pair[1])
            for change, pair in zip(changes, wanted, strict=True)
            if pair is not None and change.action == MemberChange.ADD and pair not in held
        ]
        removes = [
            held[pair]
            for change, pair in zip(changes, wanted, strict=True)
            if pair is not None and change.action == MemberChange.REMOVE and pair in held
        ]
        try:
            with transaction.atomic():
                LocalMembership.objects.bulk_create(adds, ignore_conflicts=True)
                LocalMembership.objects.filter(id__in=removes).delete()
        except DatabaseError as error:  # the local directory is this database: worth another try
            return ConnectorError(f"The local directory could not be written: {error}", retryable=True)
        return None

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
