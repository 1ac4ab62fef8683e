"""Requests per tenant (meter api_requests): counted per process, added to billing_usage, in the cost report."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from schemehost.platform.billing import request_meter
from schemehost.platform.billing.cost import cost_of_service, month_window
from schemehost.platform.billing.models import Usage
from schemehost.platform.extensions import db


def _requests(app, tenant_id) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.coalesce(func.sum(Usage.value), 0)).where(
            Usage.tenant_id == tenant_id, Usage.meter == request_meter.METER)).scalar())


def test_tenant_requests_are_counted_and_added_at_each_flush(app, client, make_tenant, tenant_api):
    tenant, other = make_tenant(), make_tenant()
    tenant_api.token(tenant.slug)  # the token request is counted too: fetch it before the count starts
    request_meter.flush(app)  # start from nothing pending in this process
    assert _requests(app, tenant.id) == 1
    for _ in range(3):
        assert tenant_api.get(f"/t/{tenant.slug}/api/v1/settings").status_code == 200
    assert client.get(f"/t/{tenant.slug}/api/v1/settings").status_code == 401  # answered, so counted
    assert client.get("/t/no-such-scheme/api/v1/settings").status_code == 404
    assert client.get("/api/v1/tenants").status_code == 401  # not a tenant's request

    assert request_meter.flush(app) >= 5
    assert _requests(app, tenant.id) == 1 + 4
    assert _requests(app, other.id) == 0

    assert tenant_api.get(f"/t/{tenant.slug}/api/v1/settings").status_code == 200
    request_meter.flush(app)
    assert _requests(app, tenant.id) == 1 + 5  # added to the day's row, not replacing it
    assert request_meter.flush(app) == 0  # nothing left pending

    with app.app_context():
        start, end = month_window(date.today().strftime("%Y-%m"))
        [row] = [r for r in cost_of_service(db.session, start=start, end=end) if r["tenant"] == tenant.slug]
    assert row["requests"] == 1 + 5


def test_made_up_slugs_cannot_grow_the_counts_without_bound(app, monkeypatch):
    request_meter.flush(app)
    monkeypatch.setattr(request_meter, "MAX_PENDING", 3)
    for n in range(10):
        request_meter.count(f"scan{n}")
    request_meter.count("scan0")
    assert dict(request_meter._pending) == {"scan0": 2, "scan1": 1, "scan2": 1}
    assert request_meter.flush(app) == 4  # written, and dropped by the join: none of them is a tenant


def test_flushes_of_many_processes_at_once_add_up_without_deadlocks(app, bare_tenant):
    """Web processes flush their counts at the same moment, each with its own order of tenants; every
    flush is written (none refused by a deadlock) and the day's rows hold the sum."""
    import threading

    slugs = [bare_tenant("rm")[1] for _ in range(120)]
    rounds, errors = 8, []

    def flush_many(order):
        from sqlalchemy.exc import DBAPIError

        for _ in range(rounds):
            try:
                with app.app_context(), db.engine.begin() as conn:
                    conn.execute(request_meter._FLUSH_SQL, {"meter": request_meter.METER, "slugs": order,
                                                             "counts": [1] * len(order)})
            except DBAPIError as err:
                errors.append(err)

    threads = [threading.Thread(target=flush_many, args=(order,))
               for order in (slugs, slugs[::-1], slugs[60:] + slugs[:60], slugs[60:][::-1] + slugs[:60])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with app.app_context():
        from schemehost.platform.tenants.models import Tenant

        totals = db.session.execute(
            select(func.sum(Usage.value)).join(Tenant, Tenant.id == Usage.tenant_id)
            .where(Tenant.slug.in_(slugs), Usage.meter == request_meter.METER)).scalar_one()
        db.session.rollback()
    assert totals == 4 * rounds * len(slugs)
