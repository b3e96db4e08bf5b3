"""Reading a period from what people type: a date means the whole day, an end date includes its day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.utils.dateparse import parse_date, parse_datetime


def parse_moment(value: str, *, end: bool) -> datetime | None:
    """A date (YYYY-MM-DD) or an ISO-8601 date-time (UTC if naive); None when it is neither."""
    try:
        day = parse_date(value)
        parsed = None if day else parse_datetime(value)
    except ValueError:
        return None
    if day is not None:
        return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=UTC)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
