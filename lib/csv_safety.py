"""Spreadsheet formula safety for exported text (CSV/XLSX cells people and uploads wrote)."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """`value` as text a spreadsheet will not run as a formula (a leading quote defuses it)."""
    return "'" + value if value.startswith(FORMULA_START) else value
