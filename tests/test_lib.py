"""lib/: the Retry-After parser every caller uses, the timed HTTP session, CSV formula safety."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from lib.errors import DeliveryError
from lib.http import TimeoutSession, parse_retry_after
from lib.spreadsheet import defuse_formula

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_it_reads_retry_after_as_delta_seconds_or_http_date():
    assert parse_retry_after({"Retry-After": "7"}, now=T0) == 7
    assert parse_retry_after({"retry-after": format_datetime(T0 + timedelta(seconds=90), usegmt=True)}, now=T0) == 90
    assert parse_retry_after({"Retry-After": format_datetime(T0 - timedelta(seconds=5), usegmt=True)}, now=T0) == 0
    assert parse_retry_after({"Retry-After": "soon"}, now=T0) is None
    assert parse_retry_after({}, now=T0) is None and parse_retry_after(None) is None


def test_it_reads_oktas_epoch_reset_against_the_servers_date():
    date = format_datetime(T0, usegmt=True)
    reset = str(int((T0 + timedelta(seconds=30)).timestamp()))
    assert parse_retry_after({"X-Rate-Limit-Reset": reset, "Date": date}, now=T0 + timedelta(hours=1)) == 31
    assert parse_retry_after({"X-Rate-Limit-Reset": reset}, now=T0) == 31  # no Date: our clock
    assert parse_retry_after({"X-Rate-Limit-Reset": reset, "Date": date}, include_reset=False) is None


def test_it_reads_jiras_iso_reset_and_prefers_retry_after():
    assert parse_retry_after({"X-RateLimit-Reset": "2026-11-23T09:00:45.000Z"}, now=T0) == 45
    assert parse_retry_after({"Retry-After": "7", "X-RateLimit-Reset": "2026-11-23T09:00:45Z"}, now=T0) == 7


def test_a_throttled_delivery_is_known_not_to_have_applied():
    assert DeliveryError("429", retryable=True, status=429).may_have_applied is False
    assert DeliveryError("timeout", retryable=True).may_have_applied is True
    error = DeliveryError("no", retryable=False, status=403, provider_message="Forbidden")
    assert (error.retryable, error.status, error.provider_message, str(error)) == (False, 403, "Forbidden", "no")


def test_the_session_never_waits_without_a_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        with TimeoutSession(timeout=0.3) as session, pytest.raises(requests.Timeout):
            session.get(f"http://127.0.0.1:{silent.getsockname()[1]}/")
    finally:
        silent.close()


@pytest.mark.parametrize("text", ["=SUM(A1)", "+1", "-1", "@cmd", "\tx", "\rx"])
def test_it_defuses_spreadsheet_formulas(text):
    assert defuse_formula(text) == "'" + text


def test_it_leaves_plain_text_alone():
    assert defuse_formula("Bob Builder") == "Bob Builder" and defuse_formula("") == ""
