"""Liveness and readiness: /healthz says the process serves, /readyz that Postgres and Redis answer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    ctx = current_app.extensions["medgrid"]
    checks = {}
    try:
        with ctx.factory() as session:
            session.execute(text("select 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, do not raise: a probe wants a status, not a stack trace
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        with ctx.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503
