"""Values that are safe in a spreadsheet cell."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse_formula(value: str) -> str:
    """Text a spreadsheet will not run as a formula (names and reasons come from people and uploads)."""
    return "'" + value if value.startswith(FORMULA_START) else value
