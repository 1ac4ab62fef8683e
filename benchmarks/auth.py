"""Benchmark: latency a token-authenticated tenant API request adds over the unauthenticated ``/healthz``.

Run by hand: ``.venv/bin/python benchmarks/auth.py [--requests 600] [--rounds 5]``.

One scratch database (dropped at the end with its tenant roles) holding one tenant
(``health-insurance``, claimed from the warm pool like ``schemehost tenants create``)
with one API client; its access token comes from the real token endpoint
(``POST /t/<slug>/oauth/token``, client_secret_basic).

**Over gunicorn** (``schemehost.platform.app:create_app()``, 2 sync workers as in
docs/decisions/0060, production settings) on 127.0.0.1: one client in a closed loop,
a new connection per request (sync workers close them), so a latency is the service
time of one request, never queueing behind another. Per round, the loads alternate in
blocks of 20 requests so that a change of load on the shared machine hits them alike:

- ``healthz``      ``GET /healthz`` — no tenant, no credential, no database;
- ``no token``     ``GET /t/<slug>/api/v1/whoami`` without a credential — routing, the principal
  hook, a 401 problem+json (what is spent before any lookup);
- ``whoami``       ``GET /t/<slug>/api/v1/whoami`` with the bearer token — routing, the tenant
  session (checkout, ``BEGIN``, ``SET ROLE``), the token lookup, a small JSON answer: a
  token-authenticated request that does nothing else;
- ``settings``     ``GET /t/<slug>/api/v1/settings?limit=20`` with the token — a real read, for scale.

**In process** (the Flask test client, no network), the same ``healthz`` / ``whoami`` pair, and the
resolver alone: ``bearer_principal()`` inside a request whose tenant transaction is already open — the
only work authentication adds to an API request that uses its tenant session anyway (docs/decisions/0077).

Last line: ``auth_overhead_p50_ms=<n>``: over gunicorn, the median over rounds of
p50(whoami) − p50(healthz). Target ≤ 2 ms.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import time
import urllib.parse

from scratchdb import MachineNote, commit_id, scratch_app
from routing import WORKERS, Gunicorn, create_tenants, free_port

BLOCK = 20


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, float]:
    """One request on a new connection; (status, milliseconds from connect to the last byte)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def ask_token(port: int, slug: str, client_id: str, secret: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        conn.request("POST", f"/t/{slug}/oauth/token", body=urllib.parse.urlencode({"grant_type": "client_credentials"}),
                     headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200, body
        return body["access_token"]
    finally:
        conn.close()


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def alternate(loads: dict[str, callable], requests: int) -> dict[str, list[float]]:
    """``requests`` timings per load, taken in alternating blocks of BLOCK."""
    samples: dict[str, list[float]] = {name: [] for name in loads}
    for _ in range(max(1, requests // BLOCK)):
        for name, one in loads.items():
            samples[name] += [one() for _ in range(BLOCK)]
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="requests per load and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    note = MachineNote()

    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner
    from schemehost.platform.tenancy import dispose_engines, open_tenant_session, server_engine
    from schemehost.platform.tenants.routing import load_tenant_ref
    from schemehost.tenants.identity.clients import create_client

    rounds: list[dict[str, list[float]]] = []
    inproc: list[dict[str, list[float]]] = []
    with scratch_app("auth", SCHEMEHOST_OAUTH_TOKEN_TTL_S="3600") as (app, url, _name):
        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            slug = create_tenants("au-", 0, 1, "bench")[0]
            ref = load_tenant_ref(slug)
            session = open_tenant_session(server_engine(ref.server_dsn), ref.schema_name, ref.role_name)
            client, secret = create_client(session, "bench", ["settings.manage"], created_by="bench",
                                           actor=("system", "bench", "bench"))
            client_id = client.client_id
            session.commit()
            session.close()
            db.session.rollback()
            db.engine.dispose()
            dispose_engines()

        with Gunicorn(free_port(), env={"DATABASE_URL": url}) as server:
            token = ask_token(server.port, slug, client_id, secret)
            auth = {"Authorization": f"Bearer {token}"}
            paths = {
                "healthz": ("/healthz", {}, 200),
                "no token": (f"/t/{slug}/api/v1/whoami", {}, 401),
                "whoami": (f"/t/{slug}/api/v1/whoami", auth, 200),
                "settings": (f"/t/{slug}/api/v1/settings?limit=20", auth, 200),
            }

            def load(path, headers, expected):
                def one():
                    status, ms = http_get(server.port, path, headers)
                    if status != expected:
                        raise RuntimeError(f"{path}: {status}, expected {expected}")
                    return ms
                return one

            loads = {name: load(*spec) for name, spec in paths.items()}
            alternate(loads, 200)  # warm-up: imports, pools, caches in both workers
            for _ in range(args.rounds):
                rounds.append(alternate(loads, args.requests))

        # in process: the Flask test client, then the resolver alone
        from flask import g

        from schemehost.platform.tenancy import tenant_session
        from schemehost.tenants.identity.oauth import bearer_principal

        c = app.test_client()
        if True:
            def timed(path, headers, expected):
                def one():
                    started = time.perf_counter()
                    resp = c.get(path, headers=headers)
                    ms = (time.perf_counter() - started) * 1000
                    assert resp.status_code == expected, resp.status_code
                    return ms
                return one

            inloads = {"healthz": timed("/healthz", {}, 200),
                       "whoami": timed(f"/t/{slug}/api/v1/whoami", auth, 200)}
            alternate(inloads, 200)
            for _ in range(args.rounds):
                inproc.append(alternate(inloads, args.requests))
        resolver_ms: list[float] = []
        with app.test_request_context(f"/t/{slug}/api/v1/whoami", headers=auth):
            g.tenant = load_tenant_ref(slug)
            tenant_session().connection()  # the transaction the API view would open anyway
            for i in range(200 + args.requests * args.rounds):
                started = time.perf_counter()
                principal = bearer_principal()
                if i >= 200:
                    resolver_ms.append((time.perf_counter() - started) * 1000)
            assert principal is not None and principal.kind == "client"
            tenant_session().rollback()
            tenant_session().close()
        with app.app_context():
            db.session.remove()
            dispose_engines()

    def med_of(runs, name, q=0.5):
        return statistics.median(p(r[name], q) for r in runs)

    print(f"\nauth benchmark — gunicorn {WORKERS} sync workers, 1 client, a new connection per request, "
          f"{args.rounds} rounds x {args.requests} requests per load (alternating blocks of {BLOCK}, after "
          f"a warm-up), commit {commit_id()}")
    print(note)
    print(f"{'load':<44} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p50 min':>8} {'p50 max':>8} {'vs healthz':>11}")
    base = med_of(rounds, "healthz")
    labels = {"healthz": "GET /healthz", "no token": "GET /t/<slug>/api/v1/whoami, no token (401)",
              "whoami": "GET /t/<slug>/api/v1/whoami, bearer token",
              "settings": "GET /t/<slug>/api/v1/settings?limit=20, token"}
    for name, label in labels.items():
        p50s = [p(r[name], 0.5) for r in rounds]
        print(f"{label:<44} {med_of(rounds, name):>7.2f} {med_of(rounds, name, 0.9):>7.2f} "
              f"{med_of(rounds, name, 0.99):>7.2f} {min(p50s):>8.2f} {max(p50s):>8.2f} "
              f"{med_of(rounds, name) - base:>+11.2f}")
    overhead = statistics.median(p(r["whoami"], 0.5) - p(r["healthz"], 0.5) for r in rounds)
    in_overhead = statistics.median(p(r["whoami"], 0.5) - p(r["healthz"], 0.5) for r in inproc)
    print(f"in process (Flask test client): healthz p50 {med_of(inproc, 'healthz'):.3f} ms, whoami with token "
          f"p50 {med_of(inproc, 'whoami'):.3f} ms, difference {in_overhead:.3f} ms")
    print(f"resolver alone (bearer_principal, tenant transaction open): p50 {p(resolver_ms, 0.5):.3f} ms, "
          f"p90 {p(resolver_ms, 0.9):.3f} ms, p99 {p(resolver_ms, 0.99):.3f} ms over {len(resolver_ms)} calls")
    print("target: token-authenticated request ≤ healthz + 2 ms at p50")
    print(f"auth_overhead_p50_ms={overhead:.2f}")


if __name__ == "__main__":
    main()
