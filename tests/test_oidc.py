"""Single sign-on with OpenID Connect, against a real provider process (`oidc-provider-mock`) and, for the tokens no
honest provider issues, a fake provider at the HTTP boundary whose tokens the test signs: every bad ID token is
refused with a clear message and nobody is signed in."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import OidcProvider, Settings
from chengzhi.identity.models import UserIdentity
from chengzhi.org.models import Role, User, UserSession

from .factories import City
from .oidc_helpers import (
    FakeProvider,
    MockProvider,
    authorize_at_mock,
    begin,
    callback,
    fake_provider,
    mock_provider,
    provider_config,
    sign_in_with,
    state_and_nonce,
)

GOV_MFA = "urn:gov:mfa"


@pytest.fixture(scope="module")
def city_idp() -> Iterator[MockProvider]:
    with mock_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def gov_idp() -> Iterator[MockProvider]:
    with mock_provider() as provider:
        yield provider


@pytest.fixture
def sso(settings: Settings, city_idp: MockProvider, gov_idp: MockProvider) -> Iterator[TestClient]:
    """An app with two providers: the city's own, and a real-name government service whose acr says MFA."""
    providers = {
        "city": OidcProvider(
            **provider_config(city_idp.issuer, name_zh="城市统一身份认证", name_en="City sign-on")
        ),
        "gov": OidcProvider(
            **provider_config(gov_idp.issuer, name_zh="政务服务网", name_en="Government ID", real_name=True),
            mfa_acr_values=[GOV_MFA],
        ),
    }
    configured = settings.model_copy(update={"oidc_providers": providers})
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        yield client


def _sessions(session: Session) -> int:
    return _count(session, UserSession)


def _count(session: Session, model: type[UserSession] | type[UserIdentity]) -> int:
    session.commit()  # a fresh snapshot: the app wrote in its own transactions
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_sign_in_page_offers_each_provider(sso: TestClient, city: City) -> None:
    page = sso.get("/login?lang=en")
    assert "City sign-on" in page.text and "Government ID" in page.text
    assert 'href="/login/oidc/gov"' in page.text


def test_authorization_request_uses_pkce_state_and_nonce(
    sso: TestClient, city: City, city_idp: MockProvider
) -> None:
    url = begin(sso, "city")
    query = parse_qs(urlparse(url).query)
    assert url.startswith(f"{city_idp.issuer}/oauth2/authorize?")
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert (
        len(query["code_challenge"][0]) == 43
        and len(query["state"][0]) >= 32
        and len(query["nonce"][0]) >= 32
    )
    assert query["redirect_uri"] == ["http://testserver/auth/oidc/city/callback"]
    assert "openid" in query["scope"][0].split()


def test_a_new_person_becomes_a_resident_keyed_on_issuer_and_subject(
    sso: TestClient, city: City, session: Session, city_idp: MockProvider
) -> None:
    city_idp.set_user(
        "alice",
        {
            "name": "李华",
            "phone_number": "13912345678",
            "phone_number_verified": True,
            "email": "same@example.cn",
        },
    )
    response = sign_in_with(sso, "city", "alice")
    assert response.status_code == 303 and response.headers["location"] == "/track"
    me = sso.get("/api/v1/me").json()
    assert [r["role"] for r in me["roles"]] == ["resident"]
    identity = session.scalars(select(UserIdentity)).one()
    assert (identity.issuer, identity.subject, identity.provider) == (city_idp.issuer, "alice", "city")
    user = session.get(User, identity.user_id)
    assert user is not None and user.phone == "13912345678" and user.phone_verified_at is not None
    assert user.real_name_verified_at is None, "the city's provider does not verify real names"
    row = session.scalars(select(UserSession)).one()
    assert row.method == "oidc:city" and row.second_factor is None

    # Signing in again finds the same account; the same subject at another issuer is another person, and so is
    # another subject with the same e-mail address (identities are never matched on e-mail).
    sso.cookies.clear()
    sign_in_with(sso, "city", "alice")
    assert sso.get("/api/v1/me").json()["id"] == me["id"]
    sso.cookies.clear()
    sign_in_with(sso, "gov", "alice")
    assert sso.get("/api/v1/me").json()["id"] != me["id"]
    sso.cookies.clear()
    city_idp.set_user("alice2", {"email": "same@example.cn", "email_verified": True})
    sign_in_with(sso, "city", "alice2")
    assert sso.get("/api/v1/me").json()["id"] != me["id"]
    assert _count(session, UserIdentity) == 3


def test_a_real_name_provider_gives_level_two_and_its_acr_counts_as_mfa(
    sso: TestClient, city: City, session: Session, gov_idp: MockProvider
) -> None:
    gov_idp.set_user("110101199003077777", {"name": "王芳", "acr": GOV_MFA, "amr": ["pwd", "sms"]})
    assert sign_in_with(sso, "gov", "110101199003077777").status_code == 303
    identity = session.scalars(select(UserIdentity)).one()
    user = session.get(User, identity.user_id)
    assert user is not None and user.display_name == "王芳" and user.real_name_verified_at is not None
    row = session.scalars(select(UserSession)).one()
    assert (row.acr, row.amr, row.second_factor) == (GOV_MFA, "pwd,sms", "idp")


def test_staff_link_an_identity_then_sign_in_with_it(
    settings: Settings, city: City, session: Session, city_idp: MockProvider, gov_idp: MockProvider
) -> None:
    """A staff member links their provider identity while signed in; later the provider signs them in, and the
    second factor is owed unless the provider's acr says it did MFA."""
    providers = {
        "city": OidcProvider(**provider_config(city_idp.issuer)),
        "gov": OidcProvider(**provider_config(gov_idp.issuer), mfa_acr_values=[GOV_MFA]),
    }
    strict = settings.model_copy(update={"oidc_providers": providers, "staff_second_factor": True})
    session.execute(update(User).where(User.username == "dispatcher").values(demo_account=True))
    session.commit()
    with TestClient(create_app(strict), raise_server_exceptions=False) as client:
        csrf = client.post(
            "/api/v1/auth/session", json={"username": "dispatcher", "password": "demo-password-1"}
        )
        assert csrf.status_code == 200
        city_idp.set_user("staff-7", {"name": "调度员"})
        gov_idp.set_user("staff-7g", {"acr": GOV_MFA})
        assert sign_in_with(client, "city", "staff-7", "?link=1").headers["location"] == "/account"
        assert sign_in_with(client, "gov", "staff-7g", "?link=1").headers["location"] == "/account"
        session.execute(update(User).where(User.username == "dispatcher").values(demo_account=False))
        session.commit()
        client.cookies.clear()
        owed = sign_in_with(client, "city", "staff-7")
        assert owed.headers["location"] == "/login/second-factor", "no MFA said by the provider"
        assert client.get("/staff", follow_redirects=False).status_code != 200
        client.cookies.clear()
        done = sign_in_with(client, "gov", "staff-7g")
        assert done.headers["location"] == "/", done.text[:300]
        me = client.get("/api/v1/me").json()
        assert me["username"] == "dispatcher" and [r["role"] for r in me["roles"]] == [Role.dispatcher.value]


def test_a_replayed_callback_is_refused(
    sso: TestClient, city: City, session: Session, city_idp: MockProvider
) -> None:
    url = begin(sso, "city")
    back = authorize_at_mock(url, "bob")
    assert callback(sso, back).status_code == 303
    sso.cookies.clear()
    before = _sessions(session)
    replay = callback(sso, back)
    assert replay.status_code == 401 and _refusal_code(replay) == "oidc_state_invalid"
    assert _sessions(session) == before


def test_a_state_from_another_browser_is_refused(
    sso: TestClient, city: City, settings: Settings, session: Session, city_idp: MockProvider
) -> None:
    """Login CSRF: a callback started in the attacker's browser does not sign in the victim's."""
    back = authorize_at_mock(begin(sso, "city"), "mallory")
    with TestClient(sso.app, raise_server_exceptions=False) as victim:
        response = callback(victim, back)
        assert response.status_code == 401 and _refusal_code(response) == "oidc_state_invalid"
        assert victim.get("/api/v1/me").status_code == 401
    assert _sessions(session) == 0


def test_key_rotation_at_the_provider(sso: TestClient, city: City, city_idp: MockProvider) -> None:
    assert sign_in_with(sso, "city", "carol").status_code == 303
    city_idp.restart()  # a new signing key; the cached JWKS no longer holds its key id
    sso.cookies.clear()
    assert sign_in_with(sso, "city", "carol").status_code == 303
    assert sso.get("/api/v1/me").status_code == 200


def test_rp_initiated_logout(sso: TestClient, city: City, city_idp: MockProvider) -> None:
    sign_in_with(sso, "city", "dave")
    page = sso.get("/logout")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    out = sso.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert out.headers["location"] == "/auth/oidc/logout"
    provider = sso.get("/auth/oidc/logout", follow_redirects=False)
    location = provider.headers["location"]
    assert location.startswith(f"{city_idp.issuer}/oauth2/end_session?")
    query = parse_qs(urlparse(location).query)
    assert query["client_id"] == ["chengzhi-test"] and query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == ["http://testserver/"]
    ended = httpx.get(location, timeout=5)
    assert ended.status_code == 200
    assert sso.get("/api/v1/me").status_code == 401


# ---------------------------------------------------------------- refusals, with tokens signed by the test


@pytest.fixture
def fake(settings: Settings) -> Iterator[tuple[TestClient, FakeProvider]]:
    with fake_provider() as provider:
        configured = settings.model_copy(
            update={"oidc_providers": {"fake": OidcProvider(**provider_config(provider.issuer))}}
        )
        with TestClient(create_app(configured), raise_server_exceptions=False) as client:
            yield client, provider


Maker = Callable[[FakeProvider, str], str]


def _attempt(client: TestClient, provider: FakeProvider, make: Maker) -> httpx.Response:
    url = begin(client, "fake")
    state, nonce = state_and_nonce(url)
    provider.next_token = make(provider, nonce)
    response: httpx.Response = client.get(
        f"/auth/oidc/fake/callback?code=c0de&state={state}", follow_redirects=False
    )
    return response


def _other_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)


def _none_alg(provider: FakeProvider, nonce: str) -> str:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(provider.claims(nonce))}."


BAD_TOKENS: dict[str, tuple[Maker, str]] = {
    "wrong issuer": (lambda p, n: p.sign(p.claims(n, iss="https://evil.example")), "oidc_wrong_issuer"),
    "wrong audience": (lambda p, n: p.sign(p.claims(n, aud="another-client")), "oidc_wrong_audience"),
    "bad signature": (lambda p, n: p.sign(p.claims(n), key=_other_key()), "oidc_bad_signature"),
    "alg none": (_none_alg, "oidc_alg_refused"),
    "HS256 keyed with the client secret": (
        lambda p, n: jwt.encode({"alg": "HS256"}, p.claims(n), OctKey.import_key("s3cret" * 6)),
        "oidc_alg_refused",
    ),
    "expired": (
        lambda p, n: p.sign(p.claims(n, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "oidc_token_expired",
    ),
    "missing nonce": (lambda p, n: p.sign(p.claims(n, nonce=None)), "oidc_nonce_mismatch"),
    "mismatched nonce": (lambda p, n: p.sign(p.claims(n, nonce="someone-elses")), "oidc_nonce_mismatch"),
    "nonce_supported false (authlib < 1.9 bypass)": (
        lambda p, n: p.sign(p.claims(n, nonce=None, nonce_supported=False)),
        "oidc_nonce_mismatch",
    ),
    "unknown key id": (
        lambda p, n: p.sign(p.claims(n), header={"alg": "RS256", "kid": "k9"}, key=_other_key()),
        "oidc_unknown_key",
    ),
    "no subject": (lambda p, n: p.sign(p.claims(n, sub=None)), "oidc_claim_invalid"),
    "not a JWT": (lambda p, n: "not-a-token", "oidc_malformed_token"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_every_bad_id_token_is_refused_and_nobody_signed_in(
    fake: tuple[TestClient, FakeProvider], city: City, session: Session, case: str
) -> None:
    client, provider = fake
    make, code = BAD_TOKENS[case]
    response = _attempt(client, provider, make)
    assert response.status_code == 401, response.text[:300]
    page = response.context["page"]  # type: ignore[attr-defined]
    assert page.errors.get("form"), "a clear message on the sign-in page"
    assert client.get("/api/v1/me").status_code == 401
    assert _sessions(session) == 0
    assert _count(session, UserIdentity) == 0
    assert _refusal_code(response) == code


def _refusal_code(response: httpx.Response) -> str:
    return str(response.context["page"].refusal)  # type: ignore[attr-defined]


def test_a_good_token_from_the_fake_is_accepted(fake: tuple[TestClient, FakeProvider], city: City) -> None:
    """The control: the same fake provider's honest token signs in (so the refusals above are the checks')."""
    client, provider = fake
    response = _attempt(client, provider, lambda p, n: p.sign(p.claims(n)))
    assert response.status_code == 303, response.text[:300]
    assert client.get("/api/v1/me").status_code == 200
    sent = provider.token_requests[-1]
    assert sent["grant_type"] == ["authorization_code"] and len(sent["code_verifier"][0]) >= 43
