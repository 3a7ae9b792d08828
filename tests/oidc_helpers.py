"""Identity providers for the OpenID Connect tests: the real `oidc-provider-mock` in a process of its own, and, for
the ID tokens no honest provider issues, a small fake provider at the HTTP boundary whose tokens the test signs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from .patience import START_SECONDS, STOP_SECONDS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MockProvider:
    """`python -m oidc_provider_mock` listening on a loopback port (a new signing key at every start)."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "-p", str(self.port), "-n", "true"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_SECONDS  # over 30 s at load 35-42 on 2 cores
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider-mock exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"oidc-provider-mock did not answer within {START_SECONDS:.0f} s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def restart(self) -> None:
        """A new process on the same port: the provider's signing key changes (key rotation)."""
        self.stop()
        self.start()

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        response = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text


@contextmanager
def mock_provider() -> Iterator[MockProvider]:
    provider = MockProvider(free_port())
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def provider_config(issuer: str, **extra: Any) -> dict[str, Any]:
    return {"issuer": issuer, "client_id": "chengzhi-test", "client_secret": "s3cret", **extra}


def begin(client: TestClient, name: str, query: str = "") -> str:
    """Ask the platform to sign in with provider `name`: returns the provider's authorization URL."""
    response = client.get(f"/login/oidc/{name}{query}", follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    return str(response.headers["location"])


def authorize_at_mock(authorization_url: str, sub: str) -> str:
    """The person signs in at the mock provider as `sub`: returns the callback URL the browser is sent to."""
    response = httpx.post(authorization_url, data={"sub": sub}, follow_redirects=False, timeout=10)
    assert response.status_code in (302, 303), response.text[:500]
    return str(response.headers["location"])


def callback(client: TestClient, url: str) -> httpx.Response:
    parsed = urlparse(url)
    response: httpx.Response = client.get(f"{parsed.path}?{parsed.query}", follow_redirects=False)
    return response


def sign_in_with(client: TestClient, name: str, sub: str, query: str = "") -> httpx.Response:
    return callback(client, authorize_at_mock(begin(client, name, query), sub))


# ---------------------------------------------------------------- a fake provider whose tokens the test signs


@dataclass
class FakeProvider:
    """Discovery, JWKS and a token endpoint on a loopback port; `next_token` is what the token endpoint returns."""

    port: int
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    )
    next_token: str = ""
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def sign(
        self, claims: dict[str, Any], *, key: RSAKey | None = None, header: dict[str, Any] | None = None
    ) -> str:
        return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, claims, key or self.key)

    def claims(self, nonce: str, /, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "sub": "fake-person",
            "aud": "chengzhi-test",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
        }
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}


@contextmanager
def fake_provider() -> Iterator[FakeProvider]:
    fake = FakeProvider(free_port())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._json(fake.discovery())
            elif self.path == "/jwks":
                self._json({"keys": [fake.key.as_dict(private=False)]})
            else:
                self.send_response(404)
                self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            fake.token_requests.append(parse_qs(self.rfile.read(length).decode()))
            self._json(
                {"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": fake.next_token}
            )

    server = ThreadingHTTPServer(("127.0.0.1", fake.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def state_and_nonce(authorization_url: str) -> tuple[str, str]:
    query = parse_qs(urlparse(authorization_url).query)
    return query["state"][0], query["nonce"][0]
