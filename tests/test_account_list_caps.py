"""Review account lists are capped in bytes and rows before they are parsed; XLSX zip bombs are refused."""

from __future__ import annotations

import io
import zipfile
from types import SimpleNamespace

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from reviews.campaigns import accounts_import
from reviews.campaigns.accounts_import import ImportRejected, parse_account_list
from reviews.campaigns.forms import LaunchForm


def workbook(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_it_refuses_a_file_over_the_byte_cap(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "ACCOUNT_LIST_MAX_BYTES": 1024}
    content = b"name,email,role\n" + b"A,a@example.com,user\n" * 100
    with pytest.raises(ImportRejected, match="larger than"):
        parse_account_list("big.csv", content)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_it_refuses_more_rows_than_the_cap(monkeypatch, kind):
    monkeypatch.setattr(accounts_import, "MAX_ROWS", 5)

    def encoded(rows: list[list[str]]) -> bytes:
        return workbook(rows) if kind == "xlsx" else "\n".join(",".join(r) for r in rows).encode()

    header = [["name", "email", "role"]]
    people = [[f"P{n}", f"p{n}@example.com", "user"] for n in range(6)]
    with pytest.raises(ImportRejected, match="more than 5 rows"):
        parse_account_list(f"list.{kind}", encoded(header + people))
    assert len(parse_account_list(f"list.{kind}", encoded(header + people[:5]))) == 5


def test_it_refuses_an_xlsx_zip_bomb_before_opening_it(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "ACCOUNT_LIST_UNPACKED_MAX_BYTES": 1024 * 1024}
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (8 * 1024 * 1024))
    assert len(bomb.getvalue()) < 64 * 1024  # small on the wire

    with pytest.raises(ImportRejected, match=r"unpacks to 8 MB, over the 1 MB cap"):
        parse_account_list("bomb.xlsx", bomb.getvalue())


def test_a_normal_workbook_is_still_read():
    content = workbook([["name", "email", "role"], ["Ann", "ann@example.com", "user"]])
    assert [a.email for a in parse_account_list("list.xlsx", content)] == ["ann@example.com"]


def test_the_launch_form_refuses_an_oversized_upload_before_reading_it(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "ACCOUNT_LIST_MAX_BYTES": 1024}
    app = SimpleNamespace(pk=7, name="Payroll")
    upload = SimpleUploadedFile("p.csv", b"name,email,role\n" + b"x" * 4096)
    form = LaunchForm({}, {"upload_7": upload}, applications=[app])
    assert form.is_valid()
    with pytest.raises(ValidationError, match="larger than"):
        form.uploads()
