"""The audit log as a hash chain: each event carries a hash of its content and of the event before it.

Writers take the chain head row with a row lock, so concurrent transactions append one after another
(SQLite's immediate transactions already serialise writers). Changing, deleting or inserting an event
afterwards breaks the chain at that event, and `verify_chain` names the first one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from governance.audit.models import AuditChain, AuditEvent

GENESIS = "0" * 64
# The links (request, grant, subject, application, acting person) are hashed through `refs`, a copy
# written once at sealing: deleting a linked row may null a link, which must not read as tampering.
HASHED_FIELDS = ("seq", "at", "action", "actor", "refs", "message")
LINKS = ("request_id", "grant_id", "subject_id", "application_id", "actor_person_id")


def refs_of(event: Any) -> str:
    """The event's links as written, e.g. "request=4;grant=7;subject=12;application=3;actor_person="."""
    return ";".join(f"{name.removesuffix('_id')}={getattr(event, name) or ''}" for name in LINKS)


def _canonical_data(data: Any) -> str:
    """The event's data as stored: encoded once, read back, then written with sorted keys. When
    every key is already text, that is what one sorted encoding gives, without the round trip."""
    if _text_keys_only(data or {}):
        return json.dumps(data or {}, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    stored = json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))
    return json.dumps(stored, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text_keys_only(value: Any) -> bool:
    """True when every mapping inside `value` (lists and tuples searched too) has str keys only."""
    if isinstance(value, dict):
        return all(type(key) is str and _text_keys_only(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_text_keys_only(item) for item in value)
    return True


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the previous hash and the event's content in a fixed order."""
    parts = [prev_hash]
    for name in HASHED_FIELDS:
        value = fields[name]
        parts.append(_timestamp(value) if name == "at" else ("" if value is None else str(value)))
    parts.append(_canonical_data(fields["data"]))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _fields_of(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in (*HASHED_FIELDS, "data")}


def lock_head() -> AuditChain:
    """The chain head, locked until the surrounding transaction ends."""
    head, _ = AuditChain.objects.select_for_update().get_or_create(pk=1)
    return head


def seal(events: list[AuditEvent]) -> None:
    """Give unsaved events their place in the chain; the caller saves them in this transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit events are sealed inside the transaction that writes them")
    head = lock_head()
    seq, prev = head.last_seq, head.last_hash or GENESIS
    now = timezone.now()
    for event in events:
        seq += 1
        event.seq = seq
        event.at = event.at or now
        event.prev_hash = prev
        event.refs = refs_of(event)
        event.hash = event_hash(_fields_of(event), prev)
        prev = event.hash
    AuditChain.objects.filter(pk=head.pk).update(last_seq=seq, last_hash=prev)


@dataclass(frozen=True)
class ChainBreak:
    """The first event at which the chain no longer holds."""

    event_id: int | None
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"event {self.event_id} (seq {self.seq})" if self.event_id else f"seq {self.seq}"
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class Verification:
    checked: int
    last_seq: int
    last_hash: str
    broken: ChainBreak | None


def _rows(chunk: int) -> Iterator[dict[str, Any]]:
    columns = ("id", "prev_hash", "hash", *HASHED_FIELDS, "data")
    return AuditEvent.objects.filter(seq__isnull=False).order_by("seq").values(*columns).iterator(chunk_size=chunk)


def _first_break(rows: Iterable[dict[str, Any]]) -> tuple[int, int, str, ChainBreak | None]:
    expected_seq, prev, checked = 1, GENESIS, 0
    for row in rows:
        if row["seq"] != expected_seq:
            problem = f"events {expected_seq}–{row['seq'] - 1} are missing (deleted)"
            return checked, expected_seq - 1, prev, ChainBreak(row["id"], row["seq"], problem)
        if row["prev_hash"] != prev:
            return (
                checked,
                row["seq"] - 1,
                prev,
                ChainBreak(row["id"], row["seq"], "does not follow the event before it"),
            )
        if event_hash(row, prev) != row["hash"]:
            return (
                checked,
                row["seq"] - 1,
                prev,
                ChainBreak(row["id"], row["seq"], "content was changed after it was written"),
            )
        prev, expected_seq, checked = row["hash"], expected_seq + 1, checked + 1
    return checked, expected_seq - 1, prev, None


def verify_chain(*, chunk: int = 5000) -> Verification:
    """Walk the whole chain in order; name the first event that was changed, deleted or inserted."""
    checked, last_seq, last_hash, broken = _first_break(_rows(chunk))
    if broken is None:
        unsealed = AuditEvent.objects.filter(seq__isnull=True).order_by("id").first()
        head = AuditChain.objects.filter(pk=1).first()
        if unsealed is not None:
            broken = ChainBreak(unsealed.id, None, "was inserted outside the chain")
        elif head is not None and head.last_seq != last_seq:
            broken = ChainBreak(None, head.last_seq, f"the newest events after seq {last_seq} are missing (deleted)")
    return Verification(checked=checked, last_seq=last_seq, last_hash=last_hash, broken=broken)


def verify_and_record(*, alert: bool = True) -> Verification:
    """Verify the chain, keep the outcome on the head row, and on a break alert IT (audit event + email)."""
    from governance.audit.services import Actor, record
    from governance.notifications.services import notify_person
    from governance.requests.routing import it_approvers

    result = verify_chain()
    with transaction.atomic():
        head = lock_head()
        was_broken = head.verified_ok is False
        AuditChain.objects.filter(pk=head.pk).update(
            verified_at=timezone.now(),
            verified_through_seq=result.last_seq,
            verified_ok=result.broken is None,
            verified_problem=str(result.broken or ""),
        )
        if result.broken is not None and alert and not was_broken:
            record(
                "audit.chain_broken",
                f"The audit log's hash chain is broken at {result.broken}.",
                actor=Actor.system("audit verification"),
                data={"event_id": result.broken.event_id, "seq": result.broken.seq, "problem": result.broken.problem},
            )
            for person in it_approvers():
                notify_person(
                    person,
                    subject="Gatehouse: the audit log was changed",
                    body=f"Verification of the audit log's hash chain failed at {result.broken}.\n"
                    "Someone changed, deleted or inserted audit events outside Gatehouse. "
                    "Run `manage.py verify_audit` for details.",
                )
    return result
