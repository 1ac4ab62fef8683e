"""Structured logs carry tenant and request id; unexpected errors are problem+json without internals."""

import json
import logging

from flask import Blueprint

from schemehost.platform.logging import ContextFilter, JsonFormatter


def test_json_log_lines_carry_request_id_and_tenant(app):
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Capture()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("schemehost.test")
    logger.addHandler(handler)
    try:
        with app.test_request_context("/t/some-scheme/api/v1/settings", headers={"X-Request-Id": "abc123"}):
            from flask import g

            from schemehost.platform.tenancy import TenantRef

            g.request_id = "abc123"
            g.tenant = TenantRef(1, "some-scheme", "S", "active", "tenant_some_scheme", "sh_x_1", 1, "en",
                                 "UTC", "USD")
            logger.warning("imported %d rows", 12)
    finally:
        logger.removeHandler(handler)
    line = json.loads(records[-1])
    assert line["request_id"] == "abc123" and line["tenant"] == "some-scheme"
    assert line["msg"] == "imported 12 rows" and line["level"] == "warning"


def test_request_id_is_echoed_and_generated(client):
    given = client.get("/healthz", headers={"X-Request-Id": "req-42"})
    assert given.headers["X-Request-Id"] == "req-42"
    made = client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert made.headers["X-Request-Id"] != "<script>" and len(made.headers["X-Request-Id"]) == 32


def test_unexpected_error_is_problem_json_without_internals(app, tmp_path):
    from schemehost.platform.app import create_app

    fresh = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "SCHEMEHOST_INSTANCE": str(tmp_path)})
    boom = Blueprint("boom", __name__)

    @boom.get("/boom")
    def explode():
        raise RuntimeError("secret internals: password=hunter2")

    fresh.register_blueprint(boom)
    resp = fresh.test_client().get("/boom", headers={"Accept": "application/json"})
    assert resp.status_code == 500 and resp.mimetype == "application/problem+json"
    body = resp.get_data(as_text=True)
    assert "hunter2" not in body and "Traceback" not in body
    assert resp.json["request_id"]


def test_method_not_allowed_is_problem_json(api):
    resp = api.patch("/api/v1/tenants")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
    assert "GET" in resp.headers["Allow"]


def test_json_nested_too_deeply_is_a_clear_400(client, operator_token):
    body = "[" * 100_000 + "]" * 100_000
    resp = client.post("/api/v1/partners", data=body, content_type="application/json",
                       headers={"Authorization": f"Bearer {operator_token}"})
    assert resp.status_code == resp.json["status"] == 400 and resp.mimetype == "application/problem+json"
    assert "nested too deeply" in resp.json["detail"]
