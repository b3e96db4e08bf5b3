"""Okta paging through the real SDK: every `Link` header and value, in any order (RFC 8288)."""

from __future__ import annotations

import pytest

from provisioning.connectors import PermanentError
from provisioning.connectors.links import LinkHeaderError, next_target, parse_link_values
from provisioning.connectors.okta.connector import OktaConnector
from tests.emulators.okta import OktaEmulator

TOKEN = "test-token"
LINK_SHAPES = [
    pytest.param(("self", "next"), False, id="separate-self-first"),
    pytest.param(("next", "self"), False, id="separate-next-first"),
    pytest.param(("self", "next"), True, id="combined-self-first"),
    pytest.param(("next", "self"), True, id="combined-next-first"),
]


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


@pytest.fixture
def okta():
    with OktaEmulator(TOKEN) as emulator:
        yield emulator


@pytest.fixture
def connector(okta):
    conn = OktaConnector(org_url=okta.base_url, api_token=TOKEN)
    yield conn
    conn.close()


@pytest.mark.parametrize(("order", "combined"), LINK_SHAPES)
def test_it_reads_every_page_whatever_the_link_header_shape(okta, connector, order, combined):
    okta.link_order, okta.link_combined = order, combined
    user_ids = [okta.add_user(f"user{n}@example.com") for n in range(450)]
    group = okta.add_group("everyone-here")
    for user_id in user_ids:
        okta.add_member(group, user_id)

    users = list(connector.iter_users())
    members = list(connector.iter_group_members(group))

    assert [u.external_id for u in users] == user_ids
    assert members == user_ids
    listing = okta.calls_to("GET", r"^/api/v1/users$")
    assert [call.query["limit"] for call in listing[:3]] == [["200"]] * 3
    assert len(listing) == 3 + 1  # three pages of users, one (empty) page of deprovisioned users
    member_calls = okta.calls_to("GET", rf"^/api/v1/groups/{group}/users$")
    assert [call.query["limit"] for call in member_calls] == [["200"]] * 3
    assert member_calls[1].query["after"] == [user_ids[199]]


def test_the_emulator_really_sends_several_link_headers(okta, connector):
    """The shape under test reaches the client: two header lines, next first."""
    import http.client
    from urllib.parse import urlsplit

    okta.link_order = ("next", "self")
    okta.page_cap = 1
    okta.add_user("a@example.com")
    okta.add_user("b@example.com")
    parts = urlsplit(okta.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    conn.request("GET", "/api/v1/users", headers={"Authorization": f"SSWS {TOKEN}"})
    response = conn.getresponse()
    links = response.headers.get_all("Link")
    conn.close()
    assert len(links) == 2 and 'rel="next"' in links[0] and 'rel="self"' in links[1]


def test_a_listing_whose_next_link_has_no_cursor_is_an_error(okta, connector, monkeypatch):
    okta.page_cap = 1
    okta.add_group("a")
    okta.add_group("b")
    real = okta._page

    def page_with_broken_next(incoming, items, default_limit):
        reply = real(incoming, items, default_limit)
        reply.headers["Link"] = [f'<{okta.base_url}/api/v1/groups?limit=1>; rel="next"']
        return reply

    monkeypatch.setattr(okta, "_page", page_with_broken_next)
    with pytest.raises(PermanentError, match="no after= cursor"):
        list(connector.iter_groups())


def test_link_parsing_handles_rfc_8288_shapes():
    values = [
        '<https://x.okta.com/api/v1/users?after=a,b&limit=2>; rel="self", '
        '<https://x.okta.com/api/v1/users?after=c%3Bd&limit=2>; title="a, b; c"; REL="Next"',
        "<https://x.okta.com/other>; rel=prev",
    ]
    links = parse_link_values(values)
    assert [link.target for link in links] == [
        "https://x.okta.com/api/v1/users?after=a,b&limit=2",
        "https://x.okta.com/api/v1/users?after=c%3Bd&limit=2",
        "https://x.okta.com/other",
    ]
    assert [link.relations for link in links] == [{"self"}, {"next"}, {"prev"}]
    assert links[1].params["title"] == "a, b; c"
    assert next_target(values) == "https://x.okta.com/api/v1/users?after=c%3Bd&limit=2"
    assert next_target(['<https://x/1>; rel="self next"']) == "https://x/1"
    assert next_target(['<https://x/1>; rel="self"']) is None
    with pytest.raises(LinkHeaderError):
        next_target(['<https://x/1>; rel="next"', '<https://x/2>; rel="next"'])
    with pytest.raises(LinkHeaderError):
        parse_link_values(["https://x/1; rel=next"])
