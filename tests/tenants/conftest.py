"""Fixtures of the tenant-side tests."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

OIDC_PEER = Path(__file__).resolve().parent.parent / "peers" / "oidc"

#: The provider's people: login with the e-mail (or the sub) and the password.
OIDC_ACCOUNTS = [
    {"sub": "alice", "password": "alice-pass", "email": "alice@example.org", "email_verified": True,
     "name": "Alice Ngono", "roles": ["scheme-admins", "staff"]},
    {"sub": "bob", "password": "bob-pass", "email": "bob@example.org", "email_verified": True,
     "name": "Bob Mbarga", "roles": ["claims-team"]},
    {"sub": "carol", "password": "carol-pass", "email": "carol@example.org", "email_verified": False,
     "name": "Carol Unverified", "roles": []},
    {"sub": "dan", "password": "dan-pass", "email": "dan@example.org", "email_verified": True,
     "name": "Dan Noroles"},
]


@dataclass
class OidcProvider:
    """A running local OpenID provider (tests/peers/oidc)."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    accounts: list[dict] = field(default_factory=lambda: OIDC_ACCOUNTS)

    def account(self, sub: str) -> dict:
        return next(a for a in self.accounts if a["sub"] == sub)

    def register_client(self, *redirect_uris: str) -> tuple[str, str]:
        """A new confidential client for ``redirect_uris`` (dynamic registration); (client_id, secret)."""
        resp = requests.post(f"{self.issuer}/reg", timeout=10, json={
            "redirect_uris": list(redirect_uris), "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic"})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        return body["client_id"], body["client_secret"]


def oidc_peer_skip_reason() -> str | None:
    """Why the local OpenID provider cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "Node.js is not installed: the local OpenID provider (tests/peers/oidc) cannot run"
    if not (OIDC_PEER / "node_modules" / "oidc-provider").is_dir():
        return ("tests/peers/oidc/node_modules is missing: run scripts/test (it runs `npm ci` there) "
                "or `npm ci` in tests/peers/oidc")
    return None


@contextmanager
def running_oidc_provider(*, issuer: str | None = None, client_id: str = "schemehost-test",
                          client_secret: str = "schemehost-test-secret-0123456789abcdef",
                          redirect_uris: tuple[str, ...] = ("http://localhost/t/unused/login/sso/callback",),
                          accounts: list[dict] | None = None):
    """Start tests/peers/oidc/server.js on a free port, wait for its discovery document, stop it
    afterwards. ``issuer`` overrides the address it names itself by (e.g. a proxy in front of it)."""
    reason = oidc_peer_skip_reason()
    if reason:
        pytest.skip(reason)
    accounts = OIDC_ACCOUNTS if accounts is None else accounts
    env = {**os.environ, "OIDC_PORT": "0", "OIDC_CLIENT_ID": client_id, "OIDC_CLIENT_SECRET": client_secret,
           "OIDC_REDIRECT_URIS": " ".join(redirect_uris), "OIDC_ACCOUNTS": json.dumps(accounts)}
    if issuer:
        env["OIDC_ISSUER"] = issuer
    proc = subprocess.Popen(["node", "server.js"], cwd=OIDC_PEER, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while not line.startswith("listening ") and time.monotonic() < deadline and proc.poll() is None:
            ready, _w, _x = select.select([proc.stdout], [], [], 0.5)
            if ready:
                line = proc.stdout.readline()
        if not line.startswith("listening "):
            proc.kill()
            raise RuntimeError(f"the OpenID provider did not start: {proc.stderr.read()[-2000:]}")
        _word, named, own_url = line.split()
        while True:  # its discovery document answers once the provider is wired up
            try:
                if requests.get(f"{own_url}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the OpenID provider's discovery document does not answer")
            time.sleep(0.05)
        yield OidcProvider(issuer=named, client_id=client_id, client_secret=client_secret,
                           redirect_uris=list(redirect_uris), accounts=accounts), own_url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="session")
def oidc_provider():
    """A real OpenID provider (npm ``oidc-provider`` under Node.js, tests/peers/oidc) on a free localhost
    port for the whole session: ``.issuer``, a static client ``.client_id``/``.client_secret``,
    ``.register_client(*redirect_uris)`` for per-tenant clients, ``.accounts`` (see OIDC_ACCOUNTS).
    Skipped with the reason when Node.js or the peer's node_modules are missing."""
    with running_oidc_provider() as (provider, _own_url):
        yield provider
