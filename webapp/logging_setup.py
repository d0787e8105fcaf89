"""Structured logs: one JSON object per line, and one line per request.

Several app servers write to one log pipeline (journald, a collector): a JSON line with a request id
lets an operator follow one phone's sync from nginx through the app server to the error it hit, and
``duration_ms``/``user_id`` answer "who was slow" without parsing free text. The request id comes
from ``X-Request-ID`` when nginx (or the phone) sent a sane one, else it is generated, and it is
echoed back in the response header so a bug report can quote it.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request
from sqlalchemy import inspect as sa_inspect

REQUEST_LOGGER = "webapp.request"
# Anything else (spaces, newlines, a kilobyte of junk) is replaced rather than written into the logs.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Probes hit every few seconds from every load balancer; logging their successes would drown the log.
_QUIET_PATHS = frozenset({"/healthz", "/readyz"})
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is a field.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", …extra fields, "exc"}`` on one line, UTF-8 (Chinese stays readable)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestIdFilter(logging.Filter):
    """Stamp every record logged during a request (an error's traceback too) with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def _request_id() -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex


def _user_id() -> int | None:
    """The id of the user the request already loaded (Flask-Login caches it in g), read from the ORM's
    identity key: by now the view has usually committed, which expires the user, and ``user.id`` or
    ``is_authenticated`` would reload the row and its eager collections (five queries per line).
    Only enabled users are ever loaded (tokens and the user loader both refuse disabled ones)."""
    user = g.get("_login_user")
    if user is None:
        return None
    state = sa_inspect(user, raiseerr=False)
    identity = state.identity if state is not None else None
    return identity[0] if identity else None


def init_app(app: Flask) -> None:
    """Request ids and access lines always; the JSON handler only outside tests (pytest captures logs
    itself) unless ``LOG_FORMAT=json`` asks for it."""
    if not app.config.get("TESTING") or app.config.get("LOG_FORMAT") == "json":
        configure_logging(app)
    init_request_logging(app)


def init_request_logging(app: Flask) -> None:
    """Register the request-id and access-line hooks. Call early in the factory so the timing covers
    the other before-request hooks (token lookup, throttling)."""

    @app.before_request
    def _start_request_timer() -> None:
        g.request_id = _request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        request_id = g.get("request_id") or _request_id()
        response.headers["X-Request-ID"] = request_id
        started = g.get("request_started")
        if response.status_code < 400 and request.path in _QUIET_PATHS:
            return response
        duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
        logging.getLogger(REQUEST_LOGGER).log(
            logging.ERROR if response.status_code >= 500 else logging.INFO,
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"request_id": request_id, "method": request.method, "path": request.path,
                   "status": response.status_code, "duration_ms": duration_ms, "user_id": _user_id()},
        )
        return response


def configure_logging(app: Flask, stream=None) -> logging.Handler:
    """Send the root logger's records to stderr as JSON lines (``LOG_FORMAT=text`` for humans).

    Idempotent: a second app in the same process replaces the handler rather than doubling lines.
    Other handlers on the root logger (pytest's, a collector's) are left alone.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_xuncha", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._xuncha = True  # type: ignore[attr-defined]
    if (app.config.get("LOG_FORMAT") or "json") == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL") or "INFO")
    # Flask's own stderr handler would print every app.logger line a second time, unstructured.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    return handler
