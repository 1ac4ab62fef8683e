"""Prometheus metrics on /metrics: request counts by area, fleet gauges, no tenant in any label."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemehost.platform.metrics import area_of


def _samples(client, headers=None) -> dict[tuple, float]:
    resp = client.get("/metrics", headers=headers or {})
    assert resp.status_code == 200, resp.data
    assert resp.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _requests(samples, area, method, status) -> float:
    key = ("schemehost_http_requests_total", (("area", area), ("method", method), ("status", status)))
    return samples.get(key, 0.0)


@pytest.mark.parametrize("path, area", [
    ("/t/acme/api/v1/settings", "tenant_api"),
    ("/t/acme/registry/people", "tenant_console"),
    ("/t/acme", "tenant_console"),
    ("/api/v1/tenants", "control_api"),
    ("/console/tenants/", "console"),
    ("/healthz", "health"),
    ("/favicon.ico", "other"),
])
def test_each_path_belongs_to_one_area(path, area):
    assert area_of(path) == area


def test_requests_are_counted_by_area_and_status_without_tenant_labels(client, make_tenant, tenant_api):
    tenant = make_tenant()
    before = _samples(client)
    for _ in range(3):
        assert tenant_api.get(f"/t/{tenant.slug}/api/v1/settings").status_code == 200
    assert client.get(f"/t/{tenant.slug}/api/v1/settings").status_code == 401  # no token
    assert client.get("/api/v1/tenants").status_code == 401

    after = _samples(client)
    assert _requests(after, "tenant_api", "GET", "2xx") - _requests(before, "tenant_api", "GET", "2xx") == 3
    assert _requests(after, "tenant_api", "GET", "4xx") - _requests(before, "tenant_api", "GET", "4xx") >= 1
    assert _requests(after, "control_api", "GET", "4xx") - _requests(before, "control_api", "GET", "4xx") >= 1
    count = ("schemehost_http_request_duration_seconds_count", (("area", "tenant_api"),))
    assert after[count] - before.get(count, 0) >= 4
    # bounded cardinality: nothing names a tenant
    assert not any(tenant.slug in str(labels) for _name, labels in after)


def test_fleet_gauges_count_tenants_by_status(client, make_tenant, api):
    before = _samples(client)
    tenant = make_tenant()
    assert api.post(f"/api/v1/tenants/{tenant.slug}/suspend", json={}).status_code == 200
    after = _samples(client)
    key = ("schemehost_tenants", (("status", "suspended"),))
    assert after[key] - before.get(key, 0) == 1
    assert ("schemehost_db_connections_in_use", (("pool", "control"),)) in after


def test_metrics_token_is_required_when_configured(app, client):
    app.config["METRICS_TOKEN"] = "s3cret-metrics"
    try:
        refused = client.get("/metrics")
        assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
        assert "Authorization" in refused.json["errors"]
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert _samples(client, {"Authorization": "Bearer s3cret-metrics"})
    finally:
        app.config["METRICS_TOKEN"] = None
