"""Mobile-money disbursements against a local provider: idempotency keys, transient failures retried
by the job worker with backoff, refusals, signed result callbacks (duplicated, early, forged, stale)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select
from werkzeug import Response

from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.payments.models import Disbursement
from schemehost.tenants.payments.signing import Keys, sign, verify
from tests.tenants.payments.conftest import SCOPES

SECRET = "mm-shared-secret-0123456789"


@dataclass
class Provider:
    """The local mobile-money provider: answers in order from ``answers`` (then 202 accepted), replays
    its first answer for a known idempotency key, and signs result callbacks."""

    server: object
    answers: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    first: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def keys(self) -> Keys:
        return Keys(algorithm="hmac-sha256", hmac_secret=SECRET)

    def handle(self, request):
        body = request.get_data()
        stamp = request.headers.get("X-Timestamp", "")
        ok = verify(self.keys, stamp.encode() + b"." + body, request.headers.get("X-Signature", ""))
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            self.requests.append({"key": key, "signature_ok": ok, "body": json.loads(body)})
            if key in self.first:
                return self.first[key]
            answer = self.answers.pop(0) if self.answers else "accepted"
        if answer == "sleep":
            time.sleep(1.5)  # past the 1 s timeout
            return Response(status=504)
        if answer in ("503", "500"):
            return Response(status=int(answer))
        if answer.startswith("refuse:"):
            return Response(json.dumps({"code": answer[7:]}), status=400, content_type="application/json")
        resp = Response(json.dumps({"status": answer, "transaction_id": f"MM-{key}"}), status=202,
                        content_type="application/json")
        with self.lock:
            self.first[key] = resp
        return resp

    def result(self, key: str, status: str, *, stamp: int | None = None, secret: str = SECRET):
        body = json.dumps({"reference": key, "status": status, "transaction_id": f"MM-{key}", "code": "0"}).encode()
        stamp = str(int(stamp if stamp is not None else time.time()))
        keys = Keys(algorithm="hmac-sha256", hmac_secret=secret)
        return body, {"X-Timestamp": stamp, "X-Signature": sign(keys, stamp.encode() + b"." + body),
                      "Content-Type": "application/json"}


@pytest.fixture
def provider(httpserver):
    p = Provider(server=httpserver)
    httpserver.expect_request("/disbursements", method="POST").respond_with_handler(p.handle)
    return p


@pytest.fixture
def mm(app, client, pay_tenant, client_token, provider, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_RETRY_BASE_S", 0)  # retry at once: the tests wait for nothing
    headers = {"Authorization": f"Bearer {client_token(pay_tenant, scopes=SCOPES)}"}
    resp = client.put(f"/t/{pay_tenant.slug}/api/v1/payments/gateways/momo", headers=headers, json={
        "name": "Mobile money", "kind": "mobile_money", "base_url": provider.server.url_for("").rstrip("/"),
        "sp_code": "SCHEME1", "signature": "hmac-sha256", "timeout_s": 1, "options": {"max_attempts": 3},
        "secrets": {"hmac_secret": SECRET}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return pay_tenant, headers


def _request(app, tenant, *keys, amount=250000):
    from schemehost.tenants.payments.disbursements import DisbursementLine, request_disbursements

    with app.app_context(), tenant.session() as s:
        return request_disbursements(s, "momo", [DisbursementLine(idempotency_key=k, recipient_phone="+220700000%03d" % n,
                                                                  amount=amount, currency="GMD",
                                                                  recipient_name="Fatou Jallow")
                                                 for n, k in enumerate(keys)], actor=("system", "tests", None))


def _drain(app, pg, rounds=10):
    from schemehost.platform.jobs import run_worker

    for _ in range(rounds):
        run_worker(app, concurrency=1, wait=False, periodic=False, install_signal_handlers=False)
        left = pg.execute("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                          "AND task_name = 'schemehost:payments_send_disbursement'").fetchone()[0]
        if not left:
            return


def _line(tenant, key):
    with tenant.session() as s:
        line = s.execute(select(Disbursement).where(Disbursement.idempotency_key == key)).scalar_one()
        s.expunge(line)
        return line


def _callback(client, tenant, body, headers):
    return client.post(f"/t/{tenant.slug}/payments/callbacks/momo", data=body, headers=headers)


def test_lines_are_sent_with_their_key_retried_after_transient_failures_and_finished_by_callback(
        app, client, mm, provider, pg):
    from schemehost.tenants.payments.tasks import defer_sends

    tenant, headers = mm
    provider.answers[:] = ["503", "sleep"]  # a 503, then a timeout, then accepted
    ids = _request(app, tenant, "payroll-7-line-1")
    assert _request(app, tenant, "payroll-7-line-1") == []  # the same key again records nothing
    with app.app_context():
        defer_sends(tenant.id, ids)
    _drain(app, pg)
    line = _line(tenant, "payroll-7-line-1")
    assert (line.status, line.attempts, line.provider_txn_id) == ("accepted", 3, "MM-payroll-7-line-1")
    assert [r["key"] for r in provider.requests] == ["payroll-7-line-1"] * 3
    assert all(r["signature_ok"] for r in provider.requests)
    assert provider.requests[0]["body"] == {"reference": "payroll-7-line-1", "msisdn": "+220700000000",
                                            "name": "Fatou Jallow", "amount": 250000, "currency": "GMD",
                                            "payer": "SCHEME1"}
    body, cb_headers = provider.result("payroll-7-line-1", "succeeded")
    for _ in range(3):  # delivered three times: finished once
        resp = _callback(client, tenant, body, cb_headers)
        assert resp.status_code == 200 and resp.json == {"code": "ok"}
    line = _line(tenant, "payroll-7-line-1")
    assert (line.status, line.callbacks) == ("succeeded", 3) and line.finished_at is not None
    late, late_headers = provider.result("payroll-7-line-1", "failed")
    assert _callback(client, tenant, late, late_headers).status_code == 200
    assert _line(tenant, "payroll-7-line-1").status == "succeeded"  # a final status never changes
    listed = client.get(f"/t/{tenant.slug}/api/v1/payments/disbursements?status=succeeded", headers=headers).json
    assert [(d["idempotency_key"], d["gateway"], d["attempts"]) for d in listed] == [("payroll-7-line-1", "momo", 3)]
    with tenant.session() as s:
        finished = s.execute(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "payments.disbursement.succeeded")).scalar_one()
    assert finished == 1


def test_transient_failures_until_attempts_run_out_fail_the_line(app, mm, provider, pg):
    from schemehost.tenants.payments.tasks import defer_sends

    tenant, _headers = mm
    provider.answers[:] = ["503", "500", "503", "503"]
    ids = _request(app, tenant, "line-exhausted")
    with app.app_context():
        defer_sends(tenant.id, ids)
    _drain(app, pg)
    line = _line(tenant, "line-exhausted")
    assert (line.status, line.attempts, line.result_code) == ("failed", 3, "attempts-exhausted")
    assert len(provider.requests) == 3


def test_a_refused_line_fails_with_the_providers_code_and_is_not_retried(app, mm, provider, pg):
    from schemehost.tenants.payments.tasks import defer_sends

    tenant, _headers = mm
    provider.answers[:] = ["refuse:INVALID_MSISDN"]
    ids = _request(app, tenant, "line-refused")
    with app.app_context():
        defer_sends(tenant.id, ids)
    _drain(app, pg)
    line = _line(tenant, "line-refused")
    assert (line.status, line.attempts, line.result_code) == ("failed", 1, "INVALID_MSISDN")


def test_two_workers_sending_the_same_line_at_once_send_it_once(app, mm, provider):
    from schemehost.tenants.payments.tasks import send_one

    tenant, _headers = mm
    provider.answers[:] = ["sleep"]  # the first send is slow; the second worker must not send meanwhile
    (line_id,) = _request(app, tenant, "line-twice")

    def work(_n):
        with app.app_context():
            try:
                return send_one(tenant.id, line_id)
            except Exception as err:  # the slow one times out and asks for a retry
                return type(err).__name__

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(work, range(2)))
    assert outcomes == ["RetryLater", "skipped"]
    assert len(provider.requests) == 1


def test_an_early_result_finishes_the_line_and_its_send_is_skipped(app, client, mm, provider):
    from schemehost.tenants.payments.tasks import send_one

    tenant, _headers = mm
    (line_id,) = _request(app, tenant, "line-early")
    body, headers = provider.result("line-early", "failed")
    assert _callback(client, tenant, body, headers).status_code == 200
    with app.app_context():
        assert send_one(tenant.id, line_id) == "skipped"
    assert _line(tenant, "line-early").status == "failed" and provider.requests == []


def test_forged_stale_or_unsigned_results_are_refused_and_change_nothing(app, client, mm, provider):
    tenant, _headers = mm
    _request(app, tenant, "line-forged")
    body, headers = provider.result("line-forged", "succeeded", secret="not-the-secret")
    forged = _callback(client, tenant, body, headers)
    assert forged.status_code == 400 and forged.json == {"code": "invalid-signature"}
    body, headers = provider.result("line-forged", "succeeded", stamp=time.time() - 3600)
    assert _callback(client, tenant, body, headers).status_code == 400
    assert _callback(client, tenant, body, {"Content-Type": "application/json"}).status_code == 400
    line = _line(tenant, "line-forged")
    assert (line.status, line.callbacks) == ("pending", 0)


def test_bad_lines_are_refused_with_field_errors_and_record_nothing(app, mm):
    from schemehost.platform.errors import ValidationError
    from schemehost.tenants.payments.disbursements import DisbursementLine, request_disbursements

    tenant, _headers = mm
    with app.app_context(), tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            request_disbursements(s, "momo", [
                DisbursementLine(idempotency_key="ok-1", recipient_phone="0700", amount=0, currency="GMD"),
                DisbursementLine(idempotency_key="bad key!", recipient_phone="+220700000001", amount=5,
                                 currency="XXX1", payable_kind="nothing")])
    assert set(err.value.errors) == {"lines[0].recipient_phone", "lines[0].amount", "lines[1].idempotency_key",
                                     "lines[1].currency", "lines[1].payable_kind"}
    with tenant.session() as s:
        assert s.execute(select(func.count()).select_from(Disbursement)).scalar_one() == 0
