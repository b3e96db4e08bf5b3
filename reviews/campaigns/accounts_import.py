"""Account lists for applications with no identity-provider groups: CSV or XLSX, checked row by row.

A file is accepted whole or not at all: every bad row is reported with its line number and reason.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_date, parse_datetime

from governance.errors import InvalidInput

REQUIRED = ("name", "email", "role")
OPTIONAL = ("status", "department", "title", "last_login")
STATUSES = {"active": "active", "suspended": "suspended", "deprovisioned": "deprovisioned", "disabled": "suspended"}
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ImportedAccount:
    line: int
    name: str
    email: str
    role: str
    status: str = ""
    department: str = ""
    title: str = ""
    last_login: datetime | None = None


class ImportRejected(InvalidInput):
    """The file was not imported; `errors` lists (line, reason) for every bad row."""

    def __init__(self, filename: str, errors: list[tuple[int, str]]):
        self.errors = errors
        shown = "; ".join(f"line {line}: {reason}" for line, reason in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(f"{filename} was not imported: {shown}{more}", field="upload", data={"errors": errors})


#: Longest value each column may hold (the review item's field sizes).
LIMITS = {"name": 200, "email": 254, "role": 200, "department": 120, "title": 160}


def _header_key(value: object) -> str:
    return str(value or "").strip().lower().replace(" ", "_").replace("-", "_")


def max_bytes() -> int:
    return settings.GATEHOUSE["ACCOUNT_LIST_MAX_BYTES"]


def check_size(filename: str, size: int) -> None:
    """Refuse a file over the byte cap before anything reads it."""
    if size > max_bytes():
        limit = max_bytes() / 1024 / 1024
        raise ImportRejected(filename, [(1, f"the file is larger than {limit:g} MB; split it")])


def _at_most(rows, filename: str, max_rows: int) -> list[list[object]]:
    """The header and at most `max_rows` rows; one more refuses the file without reading the rest."""
    taken = [list(r) for r in itertools.islice(rows, max_rows + 2)]
    if len(taken) > max_rows + 1:
        raise ImportRejected(filename, [(1, f"more than {max_rows} rows; split the file")])
    return taken


def _rows(filename: str, content: bytes, max_rows: int) -> list[list[object]]:
    check_size(filename, len(content))
    if filename.lower().endswith(".xlsx"):
        return _xlsx_rows(filename, content, max_rows)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected(filename, [(1, "the file is not UTF-8 text (save it as CSV UTF-8 or XLSX)")]) from None
    try:
        return _at_most(csv.reader(io.StringIO(text)), filename, max_rows)
    except csv.Error as exc:
        raise ImportRejected(filename, [(1, f"not a readable CSV file ({exc})")]) from None


def _check_unpacked_size(filename: str, content: bytes) -> None:
    """An XLSX is a zip: refuse one whose parts unpack past the cap (a zip bomb) before openpyxl opens it."""
    limit = settings.GATEHOUSE["ACCOUNT_LIST_UNPACKED_MAX_BYTES"]
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ImportRejected(filename, [(1, "not a readable XLSX workbook (not a zip archive)")]) from None
    if unpacked > limit:
        raise ImportRejected(
            filename,
            [(1, f"the workbook unpacks to {unpacked / 1024 / 1024:.0f} MB, over the {limit / 1024 / 1024:g} MB cap")],
        )


def _xlsx_rows(filename: str, content: bytes, max_rows: int) -> list[list[object]]:
    import openpyxl

    _check_unpacked_size(filename, content)
    try:  # the workbook is read lazily: a damaged sheet only fails while iterating
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        return _at_most(book.worksheets[0].iter_rows(values_only=True), filename, max_rows)
    except ImportRejected:
        raise
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise ImportRejected(filename, [(1, f"not a readable XLSX workbook ({exc.__class__.__name__})")]) from None


def _cell(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _last_login(value: object) -> datetime | None:
    """Accepts an XLSX date/datetime cell or ISO-8601 text; raises ValueError when unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    text = str(value).strip()
    parsed = parse_datetime(text)
    if parsed is None:
        day = parse_date(text)
        if day is None:
            raise ValueError(f"last login {text!r} is not a date (use YYYY-MM-DD or ISO-8601)")
        parsed = datetime.combine(day, time.min)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_table(filename: str, content: bytes, required: tuple[str, ...], max_rows: int) -> tuple[list, list[str]]:
    """The rows of a CSV/XLSX file and its normalised header; ImportRejected for a file unfit to read."""
    rows = _rows(filename, content, max_rows)
    if not rows or not any(_cell(c) for c in rows[0]):
        raise ImportRejected(filename, [(1, f"the file is empty; expected a header row: {', '.join(required)}")])
    header = [_header_key(c) for c in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportRejected(filename, [(1, f"the header lacks the column(s) {', '.join(missing)}")])
    return rows, header


def parse_account_list(filename: str, content: bytes) -> list[ImportedAccount]:
    """Every account of the file, or ImportRejected listing each bad row (nothing is half-imported)."""
    rows, header = read_table(filename, content, REQUIRED, MAX_ROWS)
    index = {name: header.index(name) for name in (*REQUIRED, *OPTIONAL) if name in header}
    accounts: list[ImportedAccount] = []
    errors: list[tuple[int, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(_cell(c) for c in row):
            continue  # blank lines are not rows
        account, problems = _account(line, row, index)
        if account is not None:
            key = (account.email, account.role.lower())
            if key in seen:
                problems.append(f"duplicate of line {seen[key]} ({account.email}, {account.role})")
            else:
                seen[key] = line
        if problems:
            errors.extend((line, p) for p in problems)
        elif account is not None:
            accounts.append(account)
    if errors:
        raise ImportRejected(filename, errors)
    if not accounts:
        raise ImportRejected(filename, [(2, "the file has a header but no accounts")])
    return accounts


def _account(line: int, row: list[object], index: dict[str, int]) -> tuple[ImportedAccount | None, list[str]]:
    def get(name: str) -> object:
        i = index.get(name)
        return row[i] if i is not None and i < len(row) else None

    problems: list[str] = []
    name, email, role = _cell(get("name")), _cell(get("email")).lower(), _cell(get("role"))
    for column, value in (("name", name), ("email", email), ("role", role)):
        if not value:
            problems.append(f"{column} is empty")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"email {email!r} is not an email address")
    for column, limit in LIMITS.items():
        if len(_cell(get(column))) > limit:
            problems.append(f"{column} is longer than {limit} characters")
    raw_status = _cell(get("status")).lower()
    if raw_status and raw_status not in STATUSES:
        problems.append(f"status {raw_status!r} is not one of {', '.join(sorted(STATUSES))}")
    try:
        last_login = _last_login(get("last_login"))
    except ValueError as exc:
        problems.append(str(exc))
        last_login = None
    if problems:
        return None, problems
    account = ImportedAccount(
        line=line,
        name=name,
        email=email,
        role=role,
        status=STATUSES.get(raw_status, ""),
        department=_cell(get("department")),
        title=_cell(get("title")),
        last_login=last_login,
    )
    return account, []
