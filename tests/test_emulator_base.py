"""The shared emulator base: routing, fault injection, and what it records."""

import json
import urllib.error
import urllib.request

import pytest

from tests.emulators.base import Emulator, Reply, route


class Echo(Emulator):
    @route("GET", r"/things/(?P<tid>\d+)")
    def get_thing(self, incoming):
        return Reply(200, {"id": int(incoming.params["tid"]), "q": incoming.arg("q")})


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def test_it_routes_and_records():
    with Echo() as emu:
        status, body, headers = fetch(f"{emu.base_url}/things/7?q=x")
        assert (status, body) == (200, {"id": 7, "q": "x"})
        assert "Date" in headers
        assert emu.calls_to("GET", r"^/things/7$")[0].query == {"q": ["x"]}


@pytest.mark.parametrize("inject,expected", [("throttle", 429), ("fail", 503)])
def test_it_injects_faults_then_recovers(inject, expected):
    with Echo() as emu:
        getattr(emu, inject)(1)
        assert fetch(f"{emu.base_url}/things/1")[0] == expected
        assert fetch(f"{emu.base_url}/things/1")[0] == 200


def test_it_answers_unknown_paths_with_404():
    with Echo() as emu:
        assert fetch(f"{emu.base_url}/nope")[0] == 404
