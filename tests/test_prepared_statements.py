"""PostgreSQL connections bind parameters on the server, so repeated statements are prepared once
per connection; statements with more parameters than the protocol carries are merged on the client."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog.models import Person
from lib.db import PreparingCursor, prepared_statement_options
from tests import company as c

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL connections only")


def prepared_statements_about(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{table}%"])
        return cursor.fetchone()[0]


def test_prepared_statements_can_be_turned_off_for_a_pooler():
    assert prepared_statement_options(False) == {}
    options = prepared_statement_options(True)
    assert options["cursor_factory"] is PreparingCursor and options["server_side_binding"] is True


@postgres_only
@pytest.mark.django_db
def test_a_statement_run_again_is_prepared():
    c.person("ann@example.com")
    assert prepared_statements_about("catalog_person") == 0

    for _ in range(3):
        assert Person.objects.filter(email="ann@example.com").exists()

    preparing = connection.settings_dict["OPTIONS"].get("cursor_factory") is PreparingCursor  # unless turned off
    assert prepared_statements_about("catalog_person") == (1 if preparing else 0)


@postgres_only
@pytest.mark.django_db
def test_a_statement_with_more_parameters_than_the_protocol_carries_is_merged_on_the_client():
    odd = c.person("o'brien_100%@example.com")
    c.person("plain@example.com")
    emails = [f"nobody{i}@example.com" for i in range(70_000)] + [odd.email]
    assert len(emails) > 65_535

    found = list(Person.objects.filter(email__in=emails).values_list("email", flat=True))
    ids = list(Person.objects.filter(id__in=range(1, 70_000)).values_list("id", flat=True))

    assert found == [odd.email]
    assert len(ids) == Person.objects.count()
    assert prepared_statements_about("nobody0@example.com") == 0  # merged texts are not kept
