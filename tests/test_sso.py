"""Company SSO (OpenID Connect) against the provider emulator: every check fails closed."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from governance.models import AuditEvent
from tests import company as c
from tests.emulators.oidc import OidcEmulator
from tests.sso import configure, provider, sign_in, start


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # discovery and JWKS are cached per issuer


@pytest.fixture
def idp(settings):
    with provider(settings) as emulator:
        yield emulator


@pytest.fixture
def alice_at_idp(idp, company):
    idp.add_user("alice", email="Alice@Example.com", groups=["Everyone", "gatehouse-admins"])
    idp.sign_in_as = "alice"
    return company.alice


def refused(response, code: str) -> AuditEvent:
    assert response.status_code == 403, response.content[:300]
    assert f">{code}<" in response.content.decode()
    return AuditEvent.objects.get(action="sso.refused", data__code=code)


@pytest.mark.parametrize("shape", ["okta-custom", "okta-org"])
def test_it_signs_in_with_okta(client, settings, company, shape):
    with OidcEmulator(shape) as idp:
        configure(settings, idp)
        idp.add_user("bob", email="bob@example.com")
        idp.sign_in_as = "bob"
        response = sign_in(client)
        issuer = idp.issuer
    assert response.status_code == 302 and response["Location"] == "/reviews/"
    company.bob.refresh_from_db()
    assert company.bob.user.username == "bob@example.com" and not company.bob.user.has_usable_password()
    assert client.get("/reviews/").status_code == 200
    event = AuditEvent.objects.get(action="sso.signed_in")
    assert event.subject == company.bob and event.data["iss"] == issuer


def test_it_uses_pkce_and_the_registered_redirect_uri(client, idp, alice_at_idp):
    _, query = start(client)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]
    assert set(query["scope"][0].split()) >= {"openid", "email"}
    assert idp.calls_to("GET", r"/.well-known/openid-configuration$")


def test_it_maps_entra_by_the_configured_claim(client, settings, company):
    company.bob.directory, company.bob.external_id = "entra", "6f1d7e35-0000-4000-8000-00000000b0b0"
    company.bob.save()
    with OidcEmulator("entra") as idp:
        configure(settings, idp, EMAIL_CLAIM="oid")
        idp.add_user("bob", email="someone-else@example.com", oid=company.bob.external_id)
        idp.sign_in_as = "bob"
        response = sign_in(client)
    assert response.status_code == 302
    company.bob.refresh_from_db()
    assert company.bob.user is not None


def test_it_never_trusts_entras_unverified_email(client, settings, company):
    with OidcEmulator("entra") as idp:
        configure(settings, idp)  # EMAIL_CLAIM=email: Entra sends no email_verified
        idp.add_user("bob", email="bob@example.com")
        idp.sign_in_as = "bob"
        response = sign_in(client)
    refused(response, "email_not_verified")
    assert not User.objects.exists()


def test_it_refuses_an_unverified_okta_email(client, idp, company):
    idp.add_user("bob", email="bob@example.com", email_verified=False)
    idp.sign_in_as = "bob"
    refused(sign_in(client), "email_not_verified")


def test_it_gives_admin_groups_from_the_mapping(client, idp, settings, alice_at_idp):
    settings.OIDC = {**settings.OIDC, "ADMIN_GROUPS": {"gatehouse-admins": "IT admins", "auditors": "Auditors"}}
    response = sign_in(client, "/admin/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = User.objects.get(person=alice_at_idp)
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["IT admins"]
    assert client.get("/admin/").status_code == 200


def test_it_takes_admin_away_when_the_group_is_gone(client, idp, settings, alice_at_idp):
    settings.OIDC = {**settings.OIDC, "ADMIN_GROUPS": {"gatehouse-admins": "IT admins"}}
    sign_in(client, "/admin/")
    client.logout()
    idp.users["alice"]["groups"] = ["Everyone"]
    hand_made = Group.objects.create(name="Hand-made")
    User.objects.get(person=alice_at_idp).groups.add(hand_made)
    assert sign_in(client, "/reviews/").status_code == 302
    user = User.objects.get(person=alice_at_idp)
    assert not user.is_staff and list(user.groups.values_list("name", flat=True)) == ["Hand-made"]


def test_it_maps_entra_group_object_ids(client, settings, company):
    gid = "c5e1b4f2-1111-4c2b-9d1e-0000000000aa"
    with OidcEmulator("entra") as idp:
        configure(settings, idp, EMAIL_CLAIM="preferred_username", ADMIN_GROUPS={gid: "IT admins"})
        idp.add_user("alice", email="alice@example.com", groups=[gid, "another-guid"])
        idp.sign_in_as = "alice"
        assert sign_in(client, "/admin/").status_code == 302
    assert User.objects.get(person=company.alice).is_staff


def test_it_refuses_the_admin_outside_the_admin_groups(client, idp, settings, alice_at_idp):
    settings.OIDC = {**settings.OIDC, "ADMIN_GROUPS": {"other-group": "IT admins"}}
    event = refused(sign_in(client, "/admin/"), "not_in_admin_group")
    assert event.subject == alice_at_idp
    assert "_auth_user_id" not in client.session


def test_an_absolute_admin_address_needs_an_admin_group_too(client, idp, settings, alice_at_idp):
    settings.OIDC = {**settings.OIDC, "ADMIN_GROUPS": {"other-group": "IT admins"}}
    refused(sign_in(client, "http://testserver/admin/"), "not_in_admin_group")


def test_it_refuses_an_unknown_person(client, idp, company):
    idp.add_user("mallory", email="mallory@example.com")
    idp.sign_in_as = "mallory"
    event = refused(sign_in(client), "unknown_person")
    assert event.data["email"] == "mallory@example.com" and event.subject is None


def test_it_refuses_an_inactive_person(client, idp, alice_at_idp):
    alice_at_idp.status = "suspended"
    alice_at_idp.save()
    refused(sign_in(client), "inactive")


def test_it_refuses_a_deactivated_login(client, idp, alice_at_idp):
    alice_at_idp.user = User.objects.create_user("alice", is_active=False)
    alice_at_idp.save()
    refused(sign_in(client), "inactive")


def test_it_never_signs_in_as_the_break_glass_superuser(client, idp, alice_at_idp):
    alice_at_idp.user = User.objects.create_superuser("admin", "alice@example.com", "pw")
    alice_at_idp.save()
    refused(sign_in(client), "break_glass_account")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"iss": "https://evil.example.com/oauth2/default"}, "bad_issuer"),
        ({"aud": "0oa-another-app"}, "bad_audience"),
        ({"aud": ["0oa-gatehouse", "0oa-another-app"]}, "bad_audience"),
        ({"azp": "0oa-another-app"}, "bad_azp"),
        ({"exp": -300}, "expired"),  # seconds from now, worked out when the test runs
        ({"iat": 600}, "not_yet_valid"),
        ({"nbf": 600}, "not_yet_valid"),
        ({"nonce": "not-this-sign-ins-nonce"}, "bad_nonce"),
        ({"nonce": None}, "missing_claim"),
        ({"exp": None}, "missing_claim"),
        ({"sub": None}, "missing_claim"),
    ],
    ids=lambda value: value if isinstance(value, str) else ",".join(value),
)
def test_each_id_token_check_fails_closed(client, idp, alice_at_idp, overrides, code):
    now = int(time.time())
    idp.claim_overrides = {
        name: now + value if name in ("exp", "iat", "nbf") and value is not None else value
        for name, value in overrides.items()
    }
    refused(sign_in(client), code)
    assert not User.objects.exists()


def test_it_allows_a_small_clock_skew(client, idp, alice_at_idp):
    idp.claim_overrides = {"exp": int(time.time()) - 20, "iat": int(time.time()) + 20}
    assert sign_in(client).status_code == 302


def test_it_refuses_a_signature_by_another_key(client, idp, alice_at_idp):
    idp.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # same kid, another key
    refused(sign_in(client), "bad_signature")


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_it_refuses_other_algorithms(client, idp, alice_at_idp, algorithm):
    idp.header_overrides = {"alg": algorithm}
    refused(sign_in(client), "bad_algorithm")


def test_it_follows_a_key_rotation_with_one_refetch(client, idp, alice_at_idp):
    assert sign_in(client).status_code == 302  # the JWKS is now cached
    client.logout()
    idp.rotate_keys(keep_old=False)
    assert sign_in(client).status_code == 302
    assert len(idp.calls_to("GET", r"/v1/keys$")) == 2


def test_it_refuses_an_unknown_key_after_one_refetch(client, idp, alice_at_idp):
    idp.header_overrides = {"kid": "not-published"}
    refused(sign_in(client), "unknown_key")
    assert len(idp.calls_to("GET", r"/v1/keys$")) == 2  # cached once, refetched once, then refused


def test_it_refuses_a_callback_of_another_session(client, idp, alice_at_idp):
    callback, _ = start(client)
    other = type(client)()
    refused(other.get(callback), "bad_state")


def test_it_refuses_a_replayed_callback(client, idp, alice_at_idp):
    callback, _ = start(client)
    assert client.get(callback).status_code == 302
    client.logout()
    refused(client.get(callback), "bad_state")


def test_it_refuses_a_tampered_state(client, idp, alice_at_idp):
    callback, _ = start(client)
    refused(client.get(callback.replace("state=", "state=x")), "bad_state")


def test_it_takes_userinfo_only_for_the_same_subject(client, idp, company):
    idp.add_user("bob", email="bob@example.com")
    idp.sign_in_as = "bob"
    idp.claim_overrides = {"email": None, "email_verified": None}  # only userinfo carries the email
    idp.userinfo_overrides = {"sub": "00u-somebody-else"}
    refused(sign_in(client), "userinfo_sub_mismatch")
    idp.userinfo_overrides = {}
    assert sign_in(type(client)()).status_code == 302


def test_it_shows_the_providers_refusal(client, idp, company):
    idp.sign_in_as = None  # the provider answers access_denied
    event = refused(sign_in(client), "provider_error")
    assert "not assigned" in event.message


def test_it_refuses_a_discovery_document_of_another_issuer(client, idp, alice_at_idp):
    idp.discovery_overrides = {"issuer": "https://evil.example.com"}
    response = client.get("/oidc/login/", {"next": "/reviews/"})
    refused(response, "bad_issuer")


def test_it_answers_a_readable_page_when_the_provider_is_down(client, settings, company):
    idp = OidcEmulator("okta-custom").start()
    configure(settings, idp)
    idp.stop()
    refused(client.get("/oidc/login/"), "provider_unreachable")


def test_it_refuses_a_wrong_client_secret(client, idp, settings, alice_at_idp):
    settings.OIDC = {**settings.OIDC, "CLIENT_SECRET": "not-the-secret"}
    event = refused(sign_in(client), "provider_error")
    assert "not-the-secret" not in event.message and "invalid_client" in event.message


def test_it_never_redirects_off_site_after_sign_in(client, idp, alice_at_idp):
    response = sign_in(client, "https://evil.example.com/")
    assert response.status_code == 302 and response["Location"] == "/reviews/"


def test_the_login_page_offers_company_sso(client, idp):
    page = client.get("/accounts/login/?next=/reviews/")
    html = page.content.decode()
    assert "Sign in with company SSO" in html and 'name="password"' not in html
    assert page["Cache-Control"].count("no-store") == 1


def test_it_keeps_tokens_out_of_the_audit_log(client, idp, alice_at_idp):
    sign_in(client)
    event = AuditEvent.objects.get(action="sso.signed_in")
    assert set(event.data) <= {"iss", "sub", "email", "email_verified", "preferred_username", "admin_groups"}
    assert c is not None
