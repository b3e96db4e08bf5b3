"""ISO-8601 durations as people write them: "PT6H", "P7D", "P1DT12H", "P2W".

Weeks are seven days. Years and months are refused: they have no fixed length."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils.dateparse import parse_duration

#: No grant, default or extension is longer than this: past it the dates overflow, and no real
#: access request means a decade.
LONGEST = timedelta(days=3653)


ALLOWED_UNITS = "weeks, days, hours, minutes or seconds (e.g. P2W, P7D, PT6H, PT30M, P1DT12H)"
_WEEKS = re.compile(r"^P(\d{1,4})W(?=\d|T|$)")
_YEARS_OR_MONTHS = re.compile(r"^P[^T]*[YM]")


def _weeks_as_days(text: str) -> str:
    """`P2W` as `P14D` (and `P1W2D` as `P9D`): Django's parser knows no weeks."""
    match = _WEEKS.match(text)
    if not match:
        return text
    rest = text[match.end() :]
    days = int(match.group(1)) * 7
    extra = re.match(r"^(\d+)D", rest)
    if extra:
        days += int(extra.group(1))
        rest = rest[extra.end() :]
    return f"P{days}D{rest}"


def parse_iso_duration(text: str) -> timedelta | None:
    """A positive ISO-8601 duration, or None when `text` is not one (Django's other formats refused)."""
    if not isinstance(text, str) or not text.strip().upper().startswith("P"):
        return None
    normal = text.strip().upper()
    if _YEARS_OR_MONTHS.match(normal):
        return None
    try:
        parsed = parse_duration(_weeks_as_days(normal))
    except (OverflowError, ValueError):
        return None
    return parsed if parsed is not None and parsed > timedelta(0) else None


def describe_duration_problem(text: object) -> str:
    """Why `text` is not a duration Gatehouse accepts, naming what is allowed."""
    shown = repr(text) if not isinstance(text, str) else repr(text[:40])
    if isinstance(text, str) and _YEARS_OR_MONTHS.match(text.strip().upper()):
        return (
            f"{shown}: years and months have no fixed length, so they are not accepted (write P365D or "
            f"P30D instead); use {ALLOWED_UNITS}."
        )
    return f"{shown} is not a positive ISO-8601 duration; use {ALLOWED_UNITS}."


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
