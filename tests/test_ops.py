"""Health probes, request ids and structured logs, in-process and through real gunicorn."""
from __future__ import annotations

import io
import json
import logging

import pytest
import requests

from tests.factories import make_user
from tests.live_server import start_server
from tests.s3_support import server_env
from webapp import create_app
from webapp.auth.tokens import issue_token
from webapp.extensions import db
from webapp.logging_setup import REQUEST_LOGGER, JsonFormatter


def _request_records(caplog):
    return [r for r in caplog.records if r.name == REQUEST_LOGGER]


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_reports_database_and_storage(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True


@pytest.mark.parametrize("db_url", [
    "sqlite:////nonexistent-dir/xuncha.sqlite3",
    "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",  # nothing listens on port 1: refused at once
])
def test_broken_backends_fail_readiness_but_not_liveness(tmp_path, db_url):
    broken = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": db_url,
        "UPLOAD_DIR": str(tmp_path / "not-there"), "SQLALCHEMY_ENGINE_OPTIONS": {},
    })
    client = broken.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["storage"]["ok"] is False
    # Only the error's class: no hostnames or paths to an anonymous caller.
    assert "nonexistent" not in response.get_data(as_text=True)
    assert "not-there" not in response.get_data(as_text=True)


def test_unusable_upload_dir_fails_readiness(app, client, tmp_path):
    if app.config["PHOTO_STORE"] != "local":
        pytest.skip("the upload directory is not the photo store here (STORAGE=s3: see test_storage_s3)")
    # A file where the directory should be: fails for root too, unlike a permission bit.
    blocker = tmp_path / "uploads"
    blocker.write_bytes(b"")
    old = app.config["UPLOAD_DIR"]
    app.config["UPLOAD_DIR"] = str(blocker)
    try:
        response = client.get("/readyz")
    finally:
        app.config["UPLOAD_DIR"] = old
    assert response.status_code == 503
    assert response.get_json()["checks"]["storage"]["ok"] is False
    assert response.get_json()["checks"]["database"]["ok"] is True


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/healthz", headers={"X-Request-ID": "nginx-4f2a.7"})
    assert given.headers["X-Request-ID"] == "nginx-4f2a.7"
    generated = client.get("/healthz")
    assert len(generated.headers["X-Request-ID"]) == 32
    assert generated.headers["X-Request-ID"] != client.get("/healthz").headers["X-Request-ID"]
    # A header that would forge log lines is replaced, not copied.
    forged = client.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    assert forged.headers["X-Request-ID"] != "a b\tc"
    assert " " not in forged.headers["X-Request-ID"]


def test_one_access_record_per_request_with_user(app, client, caplog):
    # No `ctx` fixture: each request must get its own app context (and g), as in production.
    with app.app_context():
        user = make_user("insp-log")
        raw = issue_token(user, "test")
        db.session.commit()
        user_id = user.id
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    client.get("/api/v1/no-such-thing", headers={"Authorization": f"Bearer {raw}", "X-Request-ID": "rq-1"})
    client.get("/login")
    records = _request_records(caplog)
    assert len(records) == 2
    api, page = records
    assert (api.method, api.path, api.status, api.request_id, api.user_id) == (
        "GET", "/api/v1/no-such-thing", 404, "rq-1", user_id)
    assert isinstance(api.duration_ms, float) and api.duration_ms >= 0
    assert page.user_id is None and page.status == 200


def test_successful_probes_are_not_logged_but_failures_are(client, caplog, tmp_path):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    client.get("/healthz")
    client.get("/readyz")
    assert _request_records(caplog) == []
    broken = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent-dir/x.sqlite3",
                         "UPLOAD_DIR": str(tmp_path), "SQLALCHEMY_ENGINE_OPTIONS": {}})
    broken.test_client().get("/readyz")
    [record] = _request_records(caplog)
    assert record.status == 503 and record.levelname == "ERROR"


def test_json_format_is_one_object_per_line(app, tmp_path, database_url):
    url, engine_options = database_url
    json_app = create_app({
        "TESTING": True, "LOG_FORMAT": "json", "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, **engine_options}, "UPLOAD_DIR": str(tmp_path),
    })
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "_xuncha", False))
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        json_app.test_client().get("/login?x=1", headers={"X-Request-ID": "abc123"})
        json_app.logger.warning("整改超时 %s", "民生社区")
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [entry for entry in lines if entry["logger"] == REQUEST_LOGGER]
    assert len(access) == 1
    entry = access[0]
    for field in ("ts", "level", "request_id", "method", "path", "status", "duration_ms", "user_id"):
        assert field in entry, field
    assert entry["ts"].endswith("Z") and entry["level"] == "info"
    assert (entry["request_id"], entry["method"], entry["path"], entry["status"]) == ("abc123", "GET", "/login", 200)
    other = next(entry for entry in lines if entry["logger"] == "webapp")
    assert other["msg"] == "整改超时 民生社区" and other["request_id"] is None


def test_formatter_keeps_tracebacks_on_one_line():
    try:
        raise ValueError("坏的照片")
    except ValueError:
        record = logging.LogRecord("webapp", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "坏的照片" in json.loads(line)["exc"]


@pytest.mark.slow
def test_gunicorn_serves_probes_and_writes_json_logs(app, tmp_path, database_url):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    server = start_server(tmp_path, database_url, uploads, LOG_FORMAT="json", **server_env(app.config))
    try:
        ready = requests.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"]["ok"] is True
        response = requests.get(server.url + "/login", headers={"X-Request-ID": "live-1"}, timeout=10)
        assert response.headers["X-Request-ID"] == "live-1"
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert any(entry["logger"].startswith("gunicorn") for entry in lines), "gunicorn's own lines are JSON too"
    [access] = [entry for entry in lines if entry.get("request_id") == "live-1" and entry["logger"] == REQUEST_LOGGER]
    assert access["status"] == 200 and access["path"] == "/login"


def test_access_line_names_a_committed_user_without_reloading_it(app):
    """Views commit before the access line is written, which expires the loaded user; reading its id
    there used to reload the row and its scope collections (five statements on every request)."""
    from flask import g
    from sqlalchemy import event

    from webapp.logging_setup import _user_id

    with app.test_request_context("/api/v1/findings"):
        user = make_user("insp-expired")
        db.session.commit()  # expires it, as a view's commit does
        g._login_user = user
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert _user_id() == db.inspect(user).identity[0]
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert statements == []
        g._login_user = None
        assert _user_id() is None
        db.session.delete(user)
        db.session.commit()
