"""`{% load gatehouse_readable %}`: the one timestamp format and durations in words, on any page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template

from catalog.durations import parse_iso_duration
from lib import readable

register = template.Library()


@register.filter
def moment(value: datetime | str | None, missing: str = "—") -> str:
    """A datetime or an ISO-8601 string (as the API writes it) as "2026-11-23 09:50 UTC"."""
    return readable.moment(value, missing=missing)


@register.filter
def duration_words(value: timedelta | str | None, missing: str = "no end date") -> str:
    """A timedelta or an ISO-8601 duration ("P7D") as "7 days"."""
    if isinstance(value, str):
        value = parse_iso_duration(value)
    return readable.duration_words(value, missing=missing)
