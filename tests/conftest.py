"""Shared fixtures: one migrated database per test session (SQLite file, or a fresh PostgreSQL schema
when TEST_DATABASE_URL is set), emptied after every test; a client; a login helper."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from tests.s3_support import empty_bucket, s3_server, s3_settings, storage_backend  # noqa: F401 (fixture)
from webapp import create_app
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def _compile_translations() -> None:
    # `make test` compiles them; this keeps a bare `pytest tests/test_x.py` working too.
    catalogues = ROOT / "webapp" / "translations"
    stale = [po for po in catalogues.glob("*/LC_MESSAGES/messages.po")
             if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]
    if stale:
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile", "-d",
                        str(ROOT / "webapp" / "translations")], check=False)


@contextmanager
def isolated_database(directory: Path, name: str) -> Iterator[tuple[str, dict]]:
    """Yield (url, engine options) for a database nothing else uses: a SQLite file in ``directory``, or,
    when TEST_DATABASE_URL is set, a PostgreSQL schema of its own, dropped afterwards."""
    pg_url = os.environ.get("TEST_DATABASE_URL")
    if not pg_url:
        yield f"sqlite:///{directory / f'{name}.sqlite3'}", {}
        return
    import psycopg

    schema = f"xc_{name}_{os.getpid()}_{secrets.token_hex(4)}"
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = pg_url if "+psycopg" in pg_url else pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield url, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with isolated_database(tmp_path_factory.mktemp("db"), "test") as database:
        yield database


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory, request):
    _compile_translations()
    url, engine_options = database_url
    uploads = tmp_path_factory.mktemp("uploads")
    # STORAGE=s3: the whole suite's photos go to a bucket on a local S3 server (tests/s3_support.py).
    storage = s3_settings(request.getfixturevalue("s3_server")) if storage_backend() == "s3" else {}
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, **engine_options},
        "UPLOAD_DIR": str(uploads),
        "SERVER_NAME": "localhost",
        **storage,
    })
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(autouse=True)
def _fresh_state(request):
    """Every test starts with empty tables and an empty photo store (only for tests that use the app)."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.rollback()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.session.remove()
    upload_dir = Path(app.config["UPLOAD_DIR"])
    for child in upload_dir.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    if app.config.get("PHOTO_STORE") == "s3":
        empty_bucket(app.config)


@pytest.fixture
def ctx(app):
    """An app context for tests that build data with the factories."""
    with app.app_context():
        yield
        db.session.rollback()


class IsolatedClient(FlaskClient):
    """A test client whose requests each start with a fresh ``g``, even inside the ``ctx`` fixture.

    A request reuses an app context that is already pushed, and ``g`` lives on the app context: in
    a test holding ``ctx`` every request would otherwise share one ``g`` — and Flask-Login caches the
    logged-in user there, so a logout, a deleted cookie or a disabled account would go unnoticed by
    the next request. The database session stays shared, as tests expect.
    """

    def open(self, *args, **kwargs):
        outer = _cv_app.get(None)
        saved = dict(vars(outer.g)) if outer is not None else None
        try:
            return super().open(*args, **kwargs)
        finally:
            if outer is not None:
                vars(outer.g).clear()
                vars(outer.g).update(saved)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in page"
    return match.group(1)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str = "correct-horse-42", remember: bool = False, next: str = ""):
        page = self.client.get("/login")
        data = {"username": username, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True)),
                "next": next}
        if remember:
            data["remember"] = "y"
        return self.client.post("/login", data=data)

    def logout(self):
        page = self.client.get("/account")
        return self.client.post("/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))})


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture(scope="session")
def openapi_checker(app):
    """Every /api/v1 response a test receives through ``api`` is validated against the OpenAPI document."""
    from tests.api_support import OpenApiChecker

    return OpenApiChecker(app)


@pytest.fixture
def api(app, client, openapi_checker):
    from tests.api_support import Api

    return Api(app, client, openapi_checker)
