"""Application activity files (CSV or XLSX: application, email, last_active_at) for Auto Reclaim.

A file is accepted whole or not at all: every bad row is reported with its line number."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from governance.lifecycle.activity import ActivityRow
from reviews.campaigns.accounts_import import ImportRejected, _cell, _last_login, read_table

REQUIRED = ("application", "email", "last_active_at")
MAX_ROWS = 5000


def parse_activity_file(filename: str, content: bytes) -> list[ActivityRow]:
    """Every row of the file, or ImportRejected listing each bad one."""
    rows, header = read_table(filename, content, REQUIRED, MAX_ROWS)
    index = {name: header.index(name) for name in REQUIRED}
    parsed, errors = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(_cell(c) for c in row):
            continue
        values = {name: (row[i] if i < len(row) else None) for name, i in index.items()}
        app, email = _cell(values["application"]), _cell(values["email"]).lower()
        problems = [f"{name} is empty" for name, value in (("application", app), ("email", email)) if not value]
        try:
            validate_email(email) if email else None
        except ValidationError:
            problems.append(f"email {email!r} is not an email address")
        try:
            seen = _last_login(values["last_active_at"])
            if seen is None:
                problems.append("last_active_at is empty")
        except ValueError as exc:
            problems.append(str(exc).replace("last login", "last_active_at"))
        if problems:
            errors.extend((line, p) for p in problems)
        else:
            parsed.append(ActivityRow(application=app, person=email, last_active_at=seen))
    if errors:
        raise ImportRejected(filename, errors)
    if not parsed:
        raise ImportRejected(filename, [(2, "the file has a header but no rows")])
    return parsed
