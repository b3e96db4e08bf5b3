"""ISO-8601 durations as people write them: "PT6H", "P7D", "P1DT12H"."""

from __future__ import annotations

from datetime import timedelta

from django.utils.dateparse import parse_duration

#: No grant, default or extension is longer than this: past it the dates overflow, and no real
#: access request means a decade.
LONGEST = timedelta(days=3653)


def parse_iso_duration(text: str) -> timedelta | None:
    """A positive ISO-8601 duration, or None when `text` is not one (Django's other formats refused)."""
    if not isinstance(text, str) or not text.strip().upper().startswith("P"):
        return None
    try:
        parsed = parse_duration(text.strip().upper())
    except (OverflowError, ValueError):
        return None
    return parsed if parsed is not None and parsed > timedelta(0) else None


def format_iso_duration(value: timedelta) -> str:
    """The shortest ISO-8601 form: timedelta(hours=6) -> "PT6H", timedelta(days=7) -> "P7D"."""
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    date_part = f"{days}D" if days else ""
    time_part = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    if not date_part and not time_part:
        return "PT0S"
    return f"P{date_part}" + (f"T{time_part}" if time_part else "")
