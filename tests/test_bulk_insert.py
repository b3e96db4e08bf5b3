"""lib.bulk.insert_rows: what COPY or a multi-row INSERT (PostgreSQL) or one prepared statement
(SQLite) writes is what the ORM would have written — choice values, times, empty and null fields, defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lib.bulk import FEW_ROWS, insert_rows
from reviews.models import ReviewCampaign, ReviewItem

SEEN = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _item(campaign: ReviewCampaign, company, n: int, **fields) -> ReviewItem:
    return ReviewItem(
        campaign=campaign,
        person=company.bob,
        application=company.wiki,
        reviewer=company.alice,
        account_email=f"p{n}@example.com",
        source=ReviewItem.Source.GATEHOUSE_GRANT,
        recommendation=ReviewItem.Recommendation.KEEP,
        recommendation_reason="Active",
        **fields,
    )


# a few rows per batch (one multi-row INSERT on PostgreSQL), and more than FEW_ROWS (COPY)
@pytest.mark.parametrize("count, batch_size", [(7, 3), (FEW_ROWS + 5, 1000)], ids=["few", "copied"])
def test_it_writes_what_the_orm_would(company, count, batch_size):
    campaign = ReviewCampaign.objects.create(
        name="Q1", starts_at=SEEN, due_at=SEEN + timedelta(days=14), fallback_reviewer=company.dana
    )
    items = [
        _item(campaign, company, n, last_login_at=SEEN if n % 2 else None, title="Ünïcode ✓") for n in range(count)
    ]
    assert insert_rows(ReviewItem, iter(items), batch_size=batch_size) == count
    stored = list(ReviewItem.objects.filter(campaign=campaign).order_by("id"))
    assert [item.account_email for item in stored] == [f"p{n}@example.com" for n in range(count)]
    first, second = stored[0], stored[1]
    assert first.source == "gatehouse_grant" and first.recommendation == "keep"  # values, not enum names
    assert first.decision == ReviewItem.Decision.UNDECIDED  # the model's default
    assert first.last_login_at is None and second.last_login_at == SEEN  # to the microsecond, in UTC
    assert first.title == "Ünïcode ✓" and first.ticket_key == "" and first.grant_id is None
    assert first.reviewer_id == company.alice.pk and first.application_id == company.wiki.pk
    assert ReviewItem.objects.filter(campaign=campaign, decision="undecided").count() == count


def test_nothing_to_insert_is_zero_rows(company):
    assert insert_rows(ReviewItem, []) == 0


def test_it_writes_given_ids_and_keeps_given_auto_times(company):
    from django.db.models import Max

    from governance.models import AccessRequest

    next_id = (AccessRequest.objects.aggregate(top=Max("id"))["top"] or 0) + 10
    asked = AccessRequest(
        id=next_id,
        requester=company.bob,
        beneficiary=company.bob,
        application=company.wiki,
        role=company.reader,
        reason="history",
        created_at=SEEN,
        updated_at=SEEN,
    )
    fresh = AccessRequest(
        id=next_id + 1,
        requester=company.bob,
        beneficiary=company.bob,
        application=company.wiki,
        role=company.editor,
        reason="now",
    )

    assert insert_rows(AccessRequest, [asked, fresh], with_ids=True) == 2

    stored = AccessRequest.objects.get(pk=next_id)
    assert (stored.reason, stored.created_at, stored.updated_at) == ("history", SEEN, SEEN)
    assert AccessRequest.objects.get(pk=next_id + 1).created_at > SEEN  # left empty: stamped as saving would


def test_insert_values_writes_named_fields_and_the_model_defaults_for_the_rest(company):
    import pytest

    from lib.bulk import insert_values

    campaign = ReviewCampaign.objects.create(
        name="Q2", starts_at=SEEN, due_at=SEEN + timedelta(days=14), fallback_reviewer=company.dana
    )
    fields = ("campaign_id", "person_id", "application_id", "reviewer_id", "account_email", "source", "last_login_at")
    fields += ("recommendation", "recommendation_reason", "title")
    who = (campaign.pk, company.bob.pk, company.wiki.pk, company.alice.pk)
    rows = [
        (*who, f"v{n}@example.com", "gatehouse_grant", SEEN if n % 2 else None, "keep", "Active", "Ünïcode ✓")
        for n in range(5)
    ]

    assert insert_values(ReviewItem, fields, iter(rows), batch_size=2) == 5

    stored = list(ReviewItem.objects.filter(campaign=campaign).order_by("account_email"))
    assert [item.account_email for item in stored] == [f"v{n}@example.com" for n in range(5)]
    first, second = stored[0], stored[1]
    assert (first.source, first.recommendation, first.title) == ("gatehouse_grant", "keep", "Ünïcode ✓")
    assert first.last_login_at is None and second.last_login_at == SEEN  # to the microsecond, in UTC
    assert (first.decision, first.ticket_status, first.ticket_key, first.reason) == ("undecided", "", "", "")
    assert (first.grant_id, first.escalated_at, first.submitted_at, first.decided_by_id) == (None, None, None, None)
    with pytest.raises(ValueError, match="no insertable field nope"):
        insert_values(ReviewItem, ("campaign_id", "nope"), [(campaign.pk, 1)])


def test_update_values_sets_each_rows_fields_in_one_statement(company, django_assert_num_queries):
    from datetime import UTC, datetime

    from catalog.models import Person
    from lib.bulk import update_values

    seen = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    rows = [(company.alice.pk, seen, company.bob.pk), (None, None, company.charlie.pk)]
    with django_assert_num_queries(1):
        assert update_values(Person, ["manager_id", "last_login_at"], rows) == 2
    bob, charlie = Person.objects.get(pk=company.bob.pk), Person.objects.get(pk=company.charlie.pk)
    assert (bob.manager_id, bob.last_login_at) == (company.alice.pk, seen)
    assert (charlie.manager_id, charlie.last_login_at) == (None, None)
    assert Person.objects.get(pk=company.alice.pk).name == company.alice.name  # other rows untouched
    assert update_values(Person, ["manager_id"], []) == 0


def test_update_values_refuses_unknown_fields_and_the_primary_key(company):
    import pytest

    from catalog.models import Person
    from lib.bulk import update_values

    for names in (["nope"], ["id"]):
        with pytest.raises(ValueError, match="no updatable field"):
            update_values(Person, names, [(1, company.bob.pk)])
