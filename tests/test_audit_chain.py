"""The audit log's hash chain: written with every event, verified end to end, broken by any tampering."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from governance.audit.chain import _canonical_data, verify_chain
from governance.audit.services import Actor, record, record_many
from governance.models import AuditChain, AuditEvent

SYSTEM = Actor.system("test")


def _write(count: int) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            record("test.event", f"event {n}", actor=SYSTEM, data={"n": n, "nested": {"b": 1, "a": [1, 2]}})
            for n in range(count)
        ]


@pytest.mark.django_db
def test_it_chains_every_event_in_order():
    events = _write(3)
    bulk = record_many([{"action": "test.bulk", "message": f"bulk {n}"} for n in range(4)], actor=SYSTEM)
    rows = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in rows] == list(range(1, 8))
    assert rows[0].prev_hash == "0" * 64
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 7))
    assert AuditChain.objects.get().last_seq == 7 == bulk[-1].seq
    assert events[0].hash != events[1].hash
    result = verify_chain()
    assert result.broken is None and result.checked == 7 and result.last_hash == rows[-1].hash


@pytest.mark.django_db
def test_it_names_the_event_whose_content_was_changed():
    events = _write(5)
    AuditEvent.objects.filter(id=events[2].id).update(message="nothing to see")
    broken = verify_chain().broken
    assert broken is not None and broken.event_id == events[2].id
    assert "changed" in broken.problem


@pytest.mark.django_db
def test_it_detects_a_changed_data_field_and_actor():
    events = _write(3)
    AuditEvent.objects.filter(id=events[1].id).update(data={"n": 99})
    assert verify_chain().broken.event_id == events[1].id
    AuditEvent.objects.filter(id=events[1].id).update(data=events[1].data)
    assert verify_chain().broken is None
    AuditEvent.objects.filter(id=events[0].id).update(actor="admin:mallory")
    assert verify_chain().broken.event_id == events[0].id


@pytest.mark.django_db
def test_it_detects_a_deleted_event_in_the_middle_and_at_the_end():
    events = _write(4)
    AuditEvent.objects.filter(id=events[1].id).delete()
    broken = verify_chain().broken
    assert broken.event_id == events[2].id and "missing" in broken.problem
    AuditEvent.objects.all().delete()
    _write(2)  # continues after seq 4: the first two are gone
    assert "missing" in verify_chain().broken.problem


@pytest.mark.django_db
def test_it_detects_a_deleted_newest_event():
    events = _write(3)
    AuditEvent.objects.filter(id=events[-1].id).delete()
    broken = verify_chain().broken
    assert broken is not None and "newest" in broken.problem


@pytest.mark.django_db
def test_it_detects_an_event_inserted_outside_the_chain():
    _write(2)
    forged = AuditEvent.objects.create(action="grant.revoked", actor="admin:x", message="forged")
    broken = verify_chain().broken
    assert broken.event_id == forged.id and "outside" in broken.problem


@pytest.mark.django_db
def test_it_detects_an_event_moved_out_of_order():
    events = _write(3)
    first, second = events[0], events[1]
    AuditEvent.objects.filter(id=first.id).update(seq=None)
    AuditEvent.objects.filter(id=second.id).update(seq=1)
    AuditEvent.objects.filter(id=first.id).update(seq=2)
    assert verify_chain().broken.event_id == second.id


@pytest.mark.django_db
def test_the_command_exits_non_zero_alerts_once_and_exports_the_head(tmp_path, company, mailoutbox, tasks):
    events = _write(2)
    head_file = tmp_path / "head.json"
    call_command("verify_audit", "--export-head", str(head_file))
    head = json.loads(head_file.read_text())
    assert head == {"seq": 2, "hash": events[-1].hash, "intact": True}
    assert AuditChain.objects.get().verified_ok is True

    AuditEvent.objects.filter(id=events[0].id).update(message="edited")
    with tasks(), pytest.raises(CommandError, match=f"event {events[0].id}"):
        call_command("verify_audit")
    with tasks(), pytest.raises(CommandError):
        call_command("verify_audit")
    alerts = AuditEvent.objects.filter(action="audit.chain_broken")
    assert alerts.count() == 1
    assert [m.to for m in mailoutbox if "audit log" in m.subject] == [[company.dana.email]]
    assert AuditChain.objects.get().verified_ok is False


@pytest.mark.django_db
def test_the_command_reports_an_unwritable_export_path(tmp_path):
    _write(1)
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("verify_audit", "--export-head", str(tmp_path / "missing" / "head.json"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with transaction.atomic():
                    record("test.concurrent", f"writer {n} event {i}", actor=SYSTEM)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    result = verify_chain()
    assert result.broken is None and result.checked == 80


@pytest.mark.parametrize(
    "data",
    [
        {},
        None,
        {"b": [1, 2, {"z": 1.5, "y": None}], "a": datetime(2026, 1, 1, tzinfo=UTC)},
        {"x": (1, 2), "d": Decimal("1.10"), "é": "ü\u2028", "f": 1e100, "g": -0.0},
        {"nested": {"k": [{"m": True}]}, "days": timedelta(days=7)},
        {10: "int keys sort as text once stored", 9: "x"},
        {"a": {3: 4, 20: 5}},
    ],
)
def test_it_hashes_data_as_it_reads_back_from_the_database(data):
    stored = json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))

    assert _canonical_data(data) == json.dumps(stored, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
