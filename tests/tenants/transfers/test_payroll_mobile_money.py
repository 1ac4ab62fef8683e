"""A payroll paid through a mobile-money gateway: one disbursement per line (idempotency key of the
line), sent by the job worker, and each line's final status coming back through the payout hook."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from schemehost.tenants.payments.models import Disbursement
from schemehost.tenants.transfers.models import Payroll, PayrollLine
from tests.tenants.payments.test_disbursements import SECRET, _drain, provider  # noqa: F401  (fixture)
from tests.tenants.transfers.test_transfers import (MAKER, _enrol_and_activate, _programme, _url,  # noqa: F401
                                                    two_officers, village)

SCOPES = MAKER + ("payments.gateways.manage", "payments.read")


def test_a_payroll_paid_by_mobile_money_ends_reconciled_with_each_lines_result(app, client, village, provider,
                                                                                 client_token, pg, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_RETRY_BASE_S", 0)
    tenant, _ids, _hh = village
    maker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    # the first send meets a transient failure and is retried
    payroll_id, keys = _paid_by_mobile_money(app, client, tenant, provider, maker, checker, pg, answers=["503"])
    assert client.post(_url(tenant, f"/payrolls/{payroll_id}/pay"), headers=checker,
                       json={"via": "momo"}).status_code == 409
    assert all(k.startswith("transfers-line-") for k in keys)
    assert len(provider.requests) == 5  # four lines, one of them sent twice with the same key
    for n, key in enumerate(keys):
        body, headers = provider.result(key, "failed" if n == 0 else "succeeded")
        assert client.post(f"/t/{tenant.slug}/payments/callbacks/momo", data=body, headers=headers).status_code == 200
    with tenant.session() as s:
        lines = s.execute(select(PayrollLine.id, PayrollLine.status, PayrollLine.reference).order_by(PayrollLine.id)).all()
        status = s.execute(select(Payroll.status).where(Payroll.id == payroll_id)).scalar_one()
        kinds = set(s.execute(select(Disbursement.payable_kind)).scalars())
    assert [ln.status for ln in lines] == ["failed", "paid", "paid", "paid"]
    assert all(ln.reference == f"MM-transfers-line-{ln.id}" for ln in lines)
    assert status == "reconciled" and kinds == {"transfers.payroll_line"}


def _paid_by_mobile_money(app, client, tenant, provider, maker, checker, pg, answers=()) -> tuple[int, list[str]]:
    """A payroll of four lines paid through the local gateway ``momo`` (whose first answers are ``answers``),
    every line sent: (its id, the lines' idempotency keys in line order)."""
    gw = client.put(f"/t/{tenant.slug}/api/v1/payments/gateways/momo", headers=maker, json={
        "name": "Mobile money", "kind": "mobile_money", "base_url": provider.server.url_for("").rstrip("/"),
        "sp_code": "SCHEME1", "signature": "hmac-sha256", "timeout_s": 1, "secrets": {"hmac_secret": SECRET}})
    assert gw.status_code == 200, gw.get_data(as_text=True)
    programme = _programme(client, tenant, maker, benefit_kind="fixed", cap_amount=None)
    _enrol_and_activate(client, tenant, maker, programme["id"])
    cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=maker,
                        json={"period_start": "2026-09-01"}).json
    payroll = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker).json
    client.post(_url(tenant, f"/payrolls/{payroll['id']}/approve"), headers=checker)
    provider.answers[:] = list(answers)
    paid = client.post(_url(tenant, f"/payrolls/{payroll['id']}/pay"), headers=checker, json={"via": "momo"})
    assert paid.status_code == 200, paid.get_data(as_text=True)
    assert (paid.json["status"], paid.json["paid_via"]) == ("paid", "momo")
    _drain(app, pg)
    keys = sorted({r["key"] for r in provider.requests}, key=lambda k: int(k.rsplit("-", 1)[1]))
    assert len(keys) == 4
    return payroll["id"], keys


def test_the_last_two_results_arriving_together_leave_the_payroll_reconciled(app, client, village, provider,
                                                                             client_token, pg, monkeypatch):
    """Two callbacks finishing the payroll's last two lines in two open transactions: the second one's
    "any line pending?" probe waits for the first to commit (decision 0415), so one of them marks the
    payroll reconciled."""
    from schemehost.platform.extensions import db as sadb
    from schemehost.platform.tenancy import open_tenant_session
    from schemehost.tenants.payments import services as pay

    monkeypatch.setitem(app.config, "PAYMENTS_RETRY_BASE_S", 0)
    tenant = village[0]
    maker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    payroll_id, keys = _paid_by_mobile_money(app, client, tenant, provider, maker, checker, pg)
    for key in keys[:2]:
        body, headers = provider.result(key, "succeeded")
        assert client.post(f"/t/{tenant.slug}/payments/callbacks/momo", data=body, headers=headers).status_code == 200

    def apply(session, key):
        body, headers = provider.result(key, "succeeded")
        assert pay.handle_callback(session, "momo", body, headers).status == 200

    second_done, errors = threading.Event(), []

    def second():
        try:
            with app.app_context():
                s2 = open_tenant_session(sadb.engine, tenant.schema, tenant.role)
                try:
                    apply(s2, keys[3])
                    s2.commit()
                finally:
                    s2.close()
        except BaseException as err:  # noqa: BLE001  (reported by the main thread)
            errors.append(err)
        finally:
            second_done.set()

    database = pg.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
    with app.app_context():
        s1 = open_tenant_session(sadb.engine, tenant.schema, tenant.role)
        try:
            apply(s1, keys[2])  # line 3 finished and the payroll probed; not committed yet
            worker = threading.Thread(target=second)
            worker.start()
            # line 4's callback runs until it finishes or waits for a lock of ours (its probe's)
            deadline = time.monotonic() + 15
            while not second_done.is_set() and time.monotonic() < deadline:
                waiting = pg.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                     "AND database = %s", (database,)).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.05)
            s1.commit()
        finally:
            s1.close()
    worker.join(15)
    assert not worker.is_alive() and not errors, errors
    with tenant.session() as s:
        lines = s.execute(select(PayrollLine.status).where(PayrollLine.payroll_id == payroll_id)).scalars().all()
        status = s.execute(select(Payroll.status).where(Payroll.id == payroll_id)).scalar_one()
    assert sorted(lines) == ["paid"] * 4
    assert status == "reconciled"
