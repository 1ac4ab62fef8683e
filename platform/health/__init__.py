"""Liveness and readiness probes."""

from flask import Blueprint, jsonify
from sqlalchemy import text

from schemehost.platform.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database answers and the control plane is at head."""
    from schemehost.provisioning.migrate import head

    try:
        current = db.session.execute(text("SELECT version_num FROM control.alembic_version")).scalar()
    except Exception:  # database down or control plane missing: not ready, say why
        db.session.rollback()
        return jsonify(status="unavailable", database=False), 503
    expected = head("control")
    ready = current == expected
    body = {"status": "ok" if ready else "migrations pending", "database": True,
            "control_revision": current, "control_head": expected}
    return jsonify(body), 200 if ready else 503
