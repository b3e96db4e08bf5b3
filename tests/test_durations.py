"""Durations are shown the way people write them, and read back to the same value."""

from datetime import timedelta

import pytest
from django.utils.dateparse import parse_duration

from catalog.models import iso_duration


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=6), "PT6H"),
        (timedelta(days=7), "P7D"),
        (timedelta(days=1, hours=12, minutes=30), "P1DT12H30M"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(days=1, seconds=5), "P1DT5S"),
        (timedelta(seconds=1.5), "PT1.5S"),
        (timedelta(0), "PT0S"),
        (timedelta(hours=-2), "-PT2H"),
    ],
)
def test_it_writes_the_shortest_iso_form(value, text):
    assert iso_duration(value) == text
    assert parse_duration(text) == value
