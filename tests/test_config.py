"""Configuration rules: the secret key, production's requirements, and SQLite tuned for several workers."""
from __future__ import annotations

import sqlite3
import stat

import pytest
from sqlalchemy import select, text

import webapp.config as config_module
from webapp import create_app, sqlite_tuning
from webapp.config import load_config
from webapp.extensions import db


def _app(tmp_path, **overrides):
    settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'cfg.sqlite3'}", "SQLALCHEMY_ENGINE_OPTIONS": {},
                "UPLOAD_DIR": str(tmp_path), **overrides}
    return create_app(settings)


def test_development_secret_key_is_generated_once_and_reused(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setattr(config_module, "INSTANCE_DIR", instance)
    first = _app(tmp_path, ENV_NAME="development", SECRET_KEY=None)
    key_file = instance / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # readable by the service account only
    assert first.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 64

    second = _app(tmp_path, ENV_NAME="development", SECRET_KEY=None)  # a restart, or another worker
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temporary files left behind


def test_empty_secret_key_file_is_an_error_not_a_blank_key(tmp_path, monkeypatch):
    monkeypatch.setattr(config_module, "INSTANCE_DIR", tmp_path)
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="empty"):
        _app(tmp_path, ENV_NAME="development", SECRET_KEY=None)


def test_production_requires_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.setattr(config_module, "INSTANCE_DIR", tmp_path / "instance")
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set in production"):
        _app(tmp_path, ENV_NAME="production", SECRET_KEY=None)
    assert not (tmp_path / "instance" / "secret_key").exists()  # never silently generated

    app = _app(tmp_path, ENV_NAME="production", SECRET_KEY="from-the-environment")
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["DEMO_MODE"] is False


def test_production_cookies_are_secure_and_sessions_basic():
    production = load_config("production")
    assert production.SESSION_COOKIE_SECURE and production.REMEMBER_COOKIE_SECURE
    for name in ("development", "production", "test"):
        cfg = load_config(name)
        assert cfg.SESSION_PROTECTION == "basic"  # an inspector's mobile IP changes all day
        assert cfg.SESSION_COOKIE_HTTPONLY and cfg.REMEMBER_COOKIE_HTTPONLY
        assert cfg.SESSION_COOKIE_SAMESITE == cfg.REMEMBER_COOKIE_SAMESITE == "Lax"
        assert cfg.REMEMBER_COOKIE_DURATION.days == 30
        assert cfg.LOCAL_TIMEZONE == "Asia/Shanghai" or cfg.LOCAL_TIMEZONE  # env may override


def test_unknown_environment_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("XUNCHA_ENV", "staging")
    with pytest.raises(RuntimeError, match="XUNCHA_ENV='staging'"):
        load_config()


@pytest.fixture
def sqlite_app(tmp_path):
    """A file-backed SQLite app of its own (whatever TEST_DATABASE_URL says), with a probe route."""
    app = _app(tmp_path, TESTING=True, WTF_CSRF_ENABLED=False)

    @app.route("/_probe_lock", methods=["GET", "POST"])
    def probe_lock():
        db.session.execute(select(1))  # begins this request's transaction
        return {"other_writer_blocked": _other_writer_blocked(app)}

    with app.app_context():
        db.session.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def _db_path(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")


def _other_writer_blocked(app) -> bool:
    """Can a second connection (another gunicorn worker) start a write transaction right now?"""
    other = sqlite3.connect(_db_path(app), timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        other.close()


def test_every_sqlite_connection_is_tuned(sqlite_app):
    token = sqlite_tuning.set_write_intent(False)  # three open writers would queue behind each other
    try:
        with sqlite_app.app_context():
            connections = [db.engine.connect() for _ in range(3)]  # three distinct pool connections
            try:
                assert len({id(c.connection.dbapi_connection) for c in connections}) == 3
                for conn in connections:
                    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                    assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
                    assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
                    assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            finally:
                for conn in connections:
                    conn.close()
    finally:
        sqlite_tuning.reset_write_intent(token)


def test_write_transaction_takes_the_reserved_lock_at_begin(sqlite_app):
    """BEGIN IMMEDIATE: a writer holds SQLite's RESERVED lock from its first statement, even a read,
    so a read-then-write transaction cannot fail midway because another worker wrote in between."""
    with sqlite_app.app_context():
        with sqlite_tuning.write_intent():
            db.session.execute(select(1))  # only a read so far
            assert _other_writer_blocked(sqlite_app)
            db.session.execute(text("INSERT INTO t (x) VALUES (1)"))
            db.session.commit()
        assert not _other_writer_blocked(sqlite_app)  # released at commit

        token = sqlite_tuning.set_write_intent(False)
        try:
            db.session.execute(select(1))  # a plain (deferred) reader under WAL blocks nobody
            assert not _other_writer_blocked(sqlite_app)
            db.session.rollback()
        finally:
            sqlite_tuning.reset_write_intent(token)


def test_write_requests_begin_immediate_and_reads_do_not(sqlite_app):
    client = sqlite_app.test_client()
    assert client.post("/_probe_lock").get_json() == {"other_writer_blocked": True}
    assert client.get("/_probe_lock").get_json() == {"other_writer_blocked": False}
    # After a GET the thread goes back to writer transactions (a CLI command, the next request).
    assert sqlite_tuning._write_intent.get() is True
