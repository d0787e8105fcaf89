"""Liveness and readiness probes.

``/healthz`` answers as long as the process can run a view: it touches neither the database nor
storage, so a database outage does not make an orchestrator restart every app server at once.
``/readyz`` says whether this server can do useful work now (database answers ``SELECT 1``, the
photo store accepts writes); a load balancer takes a server out of rotation while it says 503.
Failures are logged in full but answered with the exception's class only: the probe is reachable
without login and must not hand out hostnames or paths.
"""
from __future__ import annotations

import logging
import time

from flask import jsonify
from sqlalchemy import text

from ..extensions import db
from . import bp
from .storage_probe import storage_ready

log = logging.getLogger(__name__)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    return _no_store(jsonify(status="ok"))


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a probe reports every failure rather than raising a 500
        log.warning("readiness check failed: %s", check.__name__, exc_info=True)
        return {"ok": False, "error": type(exc).__name__,
                "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def database_ready() -> None:
    # A connection of its own, not the request's session: the probe must not leave a transaction open.
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


@bp.get("/readyz")
def readyz():
    checks = {"database": _timed(database_ready), "storage": _timed(storage_ready)}
    ready = all(c["ok"] for c in checks.values())
    response = jsonify(status="ready" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    return _no_store(response)
