"""The OpenID Connect relying party: discovery, the authorization request (code flow with PKCE, `state`, `nonce`),
the code exchange and the ID token's validation against the provider's JWKS (re-read when a key id is new: key
rotation).

Built on `authlib` (PKCE challenge, tokens, the OpenID Connect ID-token claims rules: `authlib.oidc.core`) and
`joserfc` (JWS signatures, the successor of `authlib.jose`, by the same authors). The nonce is always sent and
always required back: the expected value comes from this browser's own sign-in state, never from the token
(authlib < 1.9.0 let a token's `nonce_supported: false` switch that check off in its client integrations; they are
not used here and the pinned authlib is newer).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from chengzhi.config import OidcProvider
from chengzhi.errors import ChengzhiError

# Signature algorithms accepted in ID tokens ("none" and the HMAC family, whose key would be the client secret,
# never); narrowed further by what the provider's discovery lists.
ACCEPTED_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DISCOVERY_TTL = 3600.0
JWKS_TTL = 3600.0
JWKS_REFETCH_MIN = 10.0  # a token with an unknown key id re-reads the JWKS at most this often


class OidcRefused(ChengzhiError):
    """A sign-in through a provider that was refused: nothing is signed in. The code says why."""

    status_code = 401
    code = "oidc_refused"


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    algorithms: frozenset[str]


@dataclass(frozen=True)
class AuthRequest:
    """What the browser keeps (in its signed cookie) between the redirect to the provider and the callback."""

    provider: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    next: str
    link: bool  # link the identity to the signed-in user instead of signing in


@dataclass(frozen=True)
class IdToken:
    raw: str
    claims: dict[str, Any]


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metadata: dict[str, tuple[float, Metadata]] = {}
        self.jwks: dict[str, tuple[float, KeySet]] = {}
        self.refreshed: dict[str, float] = {}

    def clear(self) -> None:
        with self.lock:
            self.metadata.clear()
            self.jwks.clear()
            self.refreshed.clear()


CACHE = _Cache()


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcRefused("oidc_provider_unavailable", details=type(exc).__name__) from None
    if not isinstance(data, dict):
        raise OidcRefused("oidc_provider_unavailable", details="not a JSON object")
    return data


def metadata(provider: OidcProvider, timeout: float = 10.0) -> Metadata:
    """The provider's discovery document (cached an hour); its `issuer` must be the configured one exactly."""
    now = time.monotonic()
    with CACHE.lock:
        cached = CACHE.metadata.get(provider.issuer)
    if cached and now - cached[0] < DISCOVERY_TTL:
        return cached[1]
    data = _get_json(provider.issuer.rstrip("/") + "/.well-known/openid-configuration", timeout)
    if data.get("issuer") != provider.issuer:
        raise OidcRefused("oidc_wrong_issuer")
    try:
        found = Metadata(
            issuer=str(data["issuer"]),
            authorization_endpoint=str(data["authorization_endpoint"]),
            token_endpoint=str(data["token_endpoint"]),
            jwks_uri=str(data["jwks_uri"]),
            end_session_endpoint=str(data["end_session_endpoint"])
            if data.get("end_session_endpoint")
            else None,
            algorithms=frozenset(data.get("id_token_signing_alg_values_supported") or ["RS256"])
            & ACCEPTED_ALGS,
        )
    except KeyError as exc:
        raise OidcRefused("oidc_provider_unavailable", details=f"discovery lacks {exc}") from None
    with CACHE.lock:
        CACHE.metadata[provider.issuer] = (now, found)
    return found


def key_set(meta: Metadata, timeout: float = 10.0, *, refresh: bool = False) -> KeySet:
    """The provider's signing keys (cached an hour; `refresh` re-reads them, at most every 10 seconds: a flood of
    tokens with made-up key ids does not become a flood of requests to the provider)."""
    now = time.monotonic()
    with CACHE.lock:
        cached = CACHE.jwks.get(meta.jwks_uri)
        last_refresh = CACHE.refreshed.get(meta.jwks_uri, float("-inf"))
        if refresh:
            if cached and now - last_refresh < JWKS_REFETCH_MIN:
                return cached[1]
            CACHE.refreshed[meta.jwks_uri] = now
    if cached and not refresh and now - cached[0] < JWKS_TTL:
        return cached[1]
    data = _get_json(meta.jwks_uri, timeout)
    try:
        keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise OidcRefused("oidc_provider_unavailable", details=f"JWKS: {type(exc).__name__}") from None
    with CACHE.lock:
        CACHE.jwks[meta.jwks_uri] = (now, keys)
    return keys


def start(
    name: str, provider: OidcProvider, meta: Metadata, redirect_uri: str, next_url: str, link: bool
) -> tuple[str, AuthRequest]:
    """The provider's authorization URL to send the browser to, and the state to keep for the callback."""
    request = AuthRequest(
        provider=name,
        state=generate_token(32),
        nonce=generate_token(32),
        verifier=generate_token(64),
        redirect_uri=redirect_uri,
        next=next_url,
        link=link,
    )
    query = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": provider.scopes,
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge": create_s256_code_challenge(request.verifier),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in meta.authorization_endpoint else "?"
    return f"{meta.authorization_endpoint}{separator}{urlencode(query)}", request


def exchange_code(
    provider: OidcProvider, meta: Metadata, auth: AuthRequest, code: str, timeout: float
) -> str:
    """Trade the authorization code (with the PKCE verifier) for tokens; returns the raw ID token."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": auth.redirect_uri,
        "code_verifier": auth.verifier,
    }
    auth_header = None
    if provider.token_auth == "client_secret_post":  # noqa: S105 - a method name
        form |= {"client_id": provider.client_id, "client_secret": provider.client_secret}
    else:
        auth_header = httpx.BasicAuth(provider.client_id, provider.client_secret)
    try:
        response = httpx.post(meta.token_endpoint, data=form, auth=auth_header, timeout=timeout)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcRefused("oidc_provider_unavailable", details=type(exc).__name__) from None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise OidcRefused("oidc_code_refused", details=str(error or response.status_code)[:100])
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcRefused("oidc_no_id_token")
    return id_token


def validate_id_token(
    provider: OidcProvider, meta: Metadata, raw: str, nonce: str, *, leeway: int = 60, timeout: float = 10.0
) -> IdToken:
    """Check an ID token as OpenID Connect Core 3.1.3.7 asks: signed by one of the provider's keys with an accepted
    algorithm (never `none`), issued by the provider for this client, not expired, and carrying this browser's
    nonce. Raises OidcRefused with the reason."""
    try:
        compact = jws.extract_compact(raw.encode())
    except (JoseError, ValueError, TypeError):
        raise OidcRefused("oidc_malformed_token") from None
    header = dict(compact.headers())
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in meta.algorithms:
        raise OidcRefused("oidc_alg_refused", alg=str(alg)[:20])
    token = _verify_signature(meta, raw, alg, header.get("kid"), timeout)
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": meta.issuer},
            "aud": {"essential": True, "value": provider.client_id},
        },
        params={"nonce": nonce},
    )
    try:
        claims.validate(leeway=leeway)
    except ExpiredTokenError:
        raise OidcRefused("oidc_token_expired") from None
    except MissingClaimError as exc:
        if exc.claim == "nonce":
            raise OidcRefused("oidc_nonce_mismatch") from None
        raise OidcRefused("oidc_claim_invalid", claim=exc.claim) from None
    except ClaimError as exc:
        codes = {"iss": "oidc_wrong_issuer", "aud": "oidc_wrong_audience", "nonce": "oidc_nonce_mismatch"}
        raise OidcRefused(codes.get(exc.claim, "oidc_claim_invalid"), claim=exc.claim) from None
    aud = token.claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and token.claims.get("azp") != provider.client_id:
        raise OidcRefused("oidc_wrong_audience")
    if not isinstance(token.claims.get("sub"), str) or not token.claims["sub"]:
        raise OidcRefused("oidc_claim_invalid", claim="sub")
    return IdToken(raw=raw, claims=dict(token.claims))


def _verify_signature(meta: Metadata, raw: str, alg: str, kid: Any, timeout: float) -> jwt.Token:
    for refresh in (False, True):
        keys = key_set(meta, timeout, refresh=refresh)
        candidates = [k for k in keys.keys if kid is None or k.kid == kid]
        if not candidates:
            continue  # a key id we have not seen: the provider may have rotated its keys
        for key in candidates:
            try:
                return jwt.decode(raw, key, algorithms=[alg])
            except BadSignatureError:
                continue
            except (JoseError, ValueError, TypeError):
                raise OidcRefused("oidc_malformed_token") from None
        if kid is not None:
            break  # the key of that id does not verify it: a bad signature, not a rotation
    if kid is not None and not any(k.kid == kid for k in key_set(meta, timeout).keys):
        raise OidcRefused("oidc_unknown_key")
    raise OidcRefused("oidc_bad_signature")


def end_session_url(meta: Metadata, provider: OidcProvider, id_token: str | None, after: str) -> str | None:
    """RP-initiated logout: where to send the browser so that the provider ends its own session too."""
    if not meta.end_session_endpoint:
        return None
    query = {"client_id": provider.client_id, "post_logout_redirect_uri": after}
    if id_token:
        query["id_token_hint"] = id_token
    separator = "&" if "?" in meta.end_session_endpoint else "?"
    return f"{meta.end_session_endpoint}{separator}{urlencode(query)}"


def claims_json(claims: dict[str, Any]) -> str:
    return json.dumps(claims, ensure_ascii=False, sort_keys=True)
