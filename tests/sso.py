"""Helpers for company SSO tests: an OIDC emulator wired into the settings, and the browser round trip."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import requests
from django.core.cache import cache

from tests.emulators.oidc import OidcEmulator


def configure(settings, idp: OidcEmulator, **oidc) -> None:
    """Point Gatehouse's OIDC settings at the emulator (extra OIDC keys override)."""
    settings.OIDC = {
        **settings.OIDC,
        "ISSUER": idp.issuer,
        "CLIENT_ID": idp.client_id,
        "CLIENT_SECRET": idp.client_secret,
        "EMAIL_CLAIM": "email",
        "ADMIN_GROUPS": {},
        **oidc,
    }
    settings.GATEHOUSE = {**settings.GATEHOUSE, "BASE_URL": "http://testserver"}


@contextmanager
def provider(
    settings, shape: str = "okta-custom", *, redirect_uri: str | None = None, **oidc
) -> Iterator[OidcEmulator]:
    """A running emulator that Gatehouse is configured for, with discovery and JWKS caches cleared."""
    cache.clear()
    extra = {"redirect_uri": redirect_uri} if redirect_uri else {}
    with OidcEmulator(shape, **extra) as idp:
        configure(settings, idp, **oidc)
        yield idp
    cache.clear()


def start(client, next_url: str = "/reviews/"):
    """GET /oidc/login/ and follow the provider's redirect: the callback URL it sends the browser to."""
    begun = client.get("/oidc/login/", {"next": next_url})
    assert begun.status_code == 302, begun.content[:500]
    answer = requests.get(begun["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text[:500]
    back = urlsplit(answer.headers["Location"])
    return back.path + "?" + back.query, parse_qs(urlsplit(begun["Location"]).query)


def sign_in(client, next_url: str = "/reviews/"):
    """The whole round trip; returns Gatehouse's answer to the callback."""
    callback, _ = start(client, next_url)
    return client.get(callback)
