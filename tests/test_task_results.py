"""Successful tasks are kept to a number by a schedule, not by the cluster on every result."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, Success, Task
from django_q.monitor import save_task

from governance import tasks
from lib.task_results import prune_successes

pytestmark = pytest.mark.django_db
START = timezone.now() - timedelta(hours=1)


def finished(n: int, *, success: bool = True, offset: int = 0) -> list[Task]:
    return Task.objects.bulk_create(
        Task(
            id=uuid4().hex,
            name=f"task {offset + i}",
            func="provisioning.tasks.execute_membership_changes",
            args=([offset + i],),
            kwargs={},
            started=START,
            stopped=START + timedelta(seconds=offset + i),
            result=1,
            success=success,
        )
        for i in range(n)
    )


def test_it_keeps_the_most_recent_successes_and_every_failure():
    finished(30)
    failures = finished(5, success=False, offset=100)

    assert prune_successes(10) == 20

    kept = list(Success.objects.order_by("stopped").values_list("name", flat=True))
    assert kept == [f"task {i}" for i in range(20, 30)]
    assert set(Failure.objects.values_list("id", flat=True)) == {f.id for f in failures}
    assert prune_successes(10) == 0


def test_the_schedule_keeps_the_configured_number(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "TASK_RESULTS_KEPT": 3}
    finished(8)

    assert tasks.prune_task_results() == 5
    assert Success.objects.count() == 3


def test_saving_a_result_does_not_read_the_kept_successes():
    finished(50)
    result = {
        "id": uuid4().hex,
        "name": "new",
        "func": "provisioning.tasks.execute_membership_changes",
        "args": ([1],),
        "kwargs": {},
        "started": timezone.now(),
        "stopped": timezone.now(),
        "result": 1,
        "success": True,
    }

    with CaptureQueriesContext(connection) as captured:
        save_task(result, get_broker())

    assert Success.objects.filter(id=result["id"]).exists()
    assert not [q for q in captured.captured_queries if "FOR UPDATE" in q["sql"].upper()]
    assert len(captured) <= 3
