"""One error hierarchy and one renderer: every error is application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("schemehost.errors")

PROBLEM = "application/problem+json"
TYPE_BASE = "https://schemehost.org/problems/"


class AppError(Exception):
    """A failure the user can act on; carries status, type, title, detail and field errors."""

    status = 400
    type = "bad-request"
    title = _l("Bad request")

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or str(self.title))
        self.detail = detail or str(self.title)
        self.errors = errors or {}
        self.headers = headers or {}
        self.extra = extra

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.type,
            "title": str(self.title),
            "status": self.status,
            "detail": str(self.detail),
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class ValidationError(AppError):
    status = 422
    type = "validation-error"
    title = _l("The input is not valid")


class NotFound(AppError):
    status = 404
    type = "not-found"
    title = _l("Not found")


class Conflict(AppError):
    status = 409
    type = "conflict"
    title = _l("Conflict")


class Locked(AppError):
    status = 423
    type = "locked"
    title = _l("Locked")


class Gone(AppError):
    status = 410
    type = "gone"
    title = _l("Gone")


class Unavailable(AppError):
    status = 503
    type = "unavailable"
    title = _l("Service unavailable")


class Unauthorized(AppError):
    status = 401
    type = "unauthorized"
    title = _l("Authentication required")


class Forbidden(AppError):
    status = 403
    type = "forbidden"
    title = _l("Forbidden")


def problem_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None):
    if getattr(g, "request_id", None):
        body.setdefault("request_id", g.request_id)
    body.setdefault("instance", request.path)
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = PROBLEM
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _wants_html() -> bool:
    """Console pages (not APIs) render errors as HTML in the user's language."""
    path = request.path
    if "/api/" in path or path.startswith("/api") or "/fhir/" in path or "/oauth/" in path:
        return False
    best = request.accept_mimetypes.best_match(["application/json", PROBLEM, "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]


def render(body: dict[str, Any], status: int, headers: dict[str, str] | None = None):
    if _wants_html():
        from flask import render_template

        try:
            html = render_template("error.html", problem=body)
            return html, status, headers or {}
        except Exception:  # the template may not exist in a minimal app
            log.debug("error.html unavailable; answering JSON")
    return problem_response(body, status, headers)


def init_app(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(err: AppError):
        return render(err.to_problem(), err.status, err.headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        body: dict[str, Any] = {
            "type": TYPE_BASE + (err.name or "error").lower().replace(" ", "-"),
            "title": err.name,
            "status": err.code,
            "detail": err.description,
        }
        # flask-smorest / webargs put marshmallow messages here
        data = getattr(err, "data", None)
        if isinstance(data, dict) and data.get("messages"):
            messages = data["messages"]
            # flatten {"json": {...}} / {"query": {...}} into field errors
            if len(messages) == 1 and isinstance(next(iter(messages.values())), dict):
                messages = next(iter(messages.values()))
            body["errors"] = messages
            body["type"] = TYPE_BASE + "validation-error"
            body["detail"] = str(_l("Some fields are not valid; see errors."))
        headers = {}
        if err.code == 405 and err.valid_methods:
            headers["Allow"] = ", ".join(err.valid_methods)
        return render(body, err.code or 500, headers)

    @app.errorhandler(IntegrityError)
    def _integrity(err: IntegrityError):
        _rollback()
        log.info("integrity error: %s", getattr(err.orig, "diag", None) and err.orig.diag.constraint_name)
        return render(
            Conflict(str(_l("This conflicts with data that already exists."))).to_problem(), 409
        )

    @app.errorhandler(OperationalError)
    def _operational(err: OperationalError):
        _rollback()
        log.exception("database unavailable")
        return render(
            Unavailable(str(_l("The database is not available; try again shortly."))).to_problem(),
            503,
            {"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        if isinstance(err, HTTPException):
            return _http_error(err)
        if isinstance(err, RecursionError) and request.is_json:
            # a JSON body nested thousands deep exhausts the parser: the client's input, not our fault
            _rollback()
            return render(AppError(str(_l("The JSON document is nested too deeply."))).to_problem(), 400)
        _rollback()
        log.exception("unexpected error")
        body = {
            "type": TYPE_BASE + "internal-error",
            "title": str(_l("Internal error")),
            "status": 500,
            "detail": str(_l("Something went wrong on our side. The request changed nothing.")),
        }
        return render(body, 500)


def _rollback() -> None:
    from schemehost.platform.extensions import db

    db.session.rollback()
    tsession = g.pop("tenant_session", None)
    if tsession is not None:
        tsession.rollback()
        tsession.close()
