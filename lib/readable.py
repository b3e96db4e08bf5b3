"""Times and durations as people read them, in one format everywhere (admin, emails, Jira comments).

The admin's own date rendering follows the same format through `governance/formats/en/formats.py`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: strftime form of every timestamp people read: "2026-11-23 09:50 UTC".
MOMENT_FORMAT = "%Y-%m-%d %H:%M UTC"

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def moment(value: datetime | str | None, *, missing: str = "—") -> str:
    """ "2026-11-23 09:50 UTC" for a datetime or an ISO-8601 string; `missing` for None or ""."""
    if value is None or value == "":
        return missing
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.astimezone(UTC).strftime(MOMENT_FORMAT)


def duration_words(value: timedelta | None, *, missing: str = "no end date") -> str:
    """ "7 days", "6 hours", "1 day 12 hours", "30 minutes"; `missing` for None."""
    if value is None:
        return missing
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0 seconds"
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts)
