from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.durations import format_iso_duration, parse_iso_duration


@pytest.mark.parametrize(
    "text,expected",
    [
        ("PT6H", timedelta(hours=6)),
        ("P7D", timedelta(days=7)),
        ("p1dt12h", timedelta(days=1, hours=12)),
        ("PT90M", timedelta(minutes=90)),
        ("PT0S", None),
        ("6:00:00", None),
        ("P", None),
        ("soon", None),
        (None, None),
    ],
)
def test_it_parses_only_positive_iso_durations(text, expected):
    assert parse_iso_duration(text) == expected


@pytest.mark.parametrize(
    "value,text",
    [
        (timedelta(hours=6), "PT6H"),
        (timedelta(days=7), "P7D"),
        (timedelta(days=1, minutes=30), "P1DT30M"),
        (timedelta(seconds=1), "PT1S"),
    ],
)
def test_it_formats_the_shortest_form(value, text):
    assert format_iso_duration(value) == text


@given(st.integers(min_value=1, max_value=10**8))
def test_it_round_trips(seconds):
    value = timedelta(seconds=seconds)
    assert parse_iso_duration(format_iso_duration(value)) == value
