"""Structured (JSON-lines) logging with the tenant and request id on every line.

Personal data never goes into log messages: log ids and counts, not names.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request


class ContextFilter(logging.Filter):
    """Stamps each record with the current request id and tenant slug."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = getattr(g, "request_id", None)
            tenant = getattr(g, "tenant", None)
            record.tenant = getattr(tenant, "slug", None)
        else:
            record.request_id = getattr(record, "request_id", None)
            record.tenant = getattr(record, "tenant", None)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "tenant": getattr(record, "tenant", None),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def formatException(self, exc_info) -> str:
        """The traceback, with database errors' messages left out: PostgreSQL quotes the offending
        value ("invalid input syntax for type date: ..."), which may be personal data."""
        _type, exc, tb = exc_info
        if exc is None or not any(_is_database_error(e) for e in _chain(exc)):
            return super().formatException(exc_info)
        parts = []
        for e in reversed(_chain(exc)):
            parts.append("".join(traceback.format_tb(e.__traceback__)))
            parts.append(_describe(e))
        return "\n".join(parts)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) or type(exc).__module__.startswith("psycopg")


def _describe(exc: BaseException) -> str:
    """The type of an exception, and for database errors only their SQLSTATE, never their message."""
    if not _is_database_error(exc):
        return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
    orig = getattr(exc, "orig", exc)
    return (f"{type(exc).__module__}.{type(exc).__qualname__} "
            f"(SQLSTATE {getattr(orig, 'sqlstate', None)}; message withheld: it may quote data)")


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    configure(app.config.get("LOG_LEVEL", "INFO"))

    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        # accept a caller's id only if it is short and plain, never echo arbitrary input
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum() else uuid.uuid4().hex

    @app.after_request
    def _echo(resp):
        if getattr(g, "request_id", None):
            resp.headers["X-Request-Id"] = g.request_id
        return resp
