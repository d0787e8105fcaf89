"""Bearer API tokens: issued by the CLI, stored hashed, revocable; the session cookie and CSRF do not apply."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tests.factories import make_community, make_user
from webapp.extensions import db
from webapp.models import ApiToken, Finding, hash_token


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _issue(runner, username: str) -> str:
    result = runner.invoke(args=["create-token", username, "--name", "test script"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_create_token_stores_only_a_hash(runner, ctx):
    make_user("insp")
    db.session.commit()
    raw = _issue(runner, "insp")
    assert raw.startswith("xc_") and len(raw) > 40
    stored = db.session.scalars(select(ApiToken)).all()
    assert len(stored) == 1
    assert stored[0].token_hash == hash_token(raw) and raw not in stored[0].token_hash
    assert stored[0].name == "test script"
    assert _issue(runner, "insp") != raw  # a new random token each time


def test_create_token_refuses_unknown_and_disabled_users(runner, ctx):
    make_user("gone", disabled=True)
    db.session.commit()
    for username in ("nobody", "gone"):
        result = runner.invoke(args=["create-token", username])
        assert result.exit_code != 0
    assert db.session.scalars(select(ApiToken)).all() == []


def test_bearer_token_authenticates_an_api_get(client, runner, ctx):
    make_user("insp", roles=("inspector",))
    db.session.commit()
    token = _issue(runner, "insp")
    response = client.get("/api/v1/session", headers=_bearer(token))
    assert response.status_code == 200
    assert response.get_json()["user"]["username"] == "insp"

    # The token logs nobody in: the same client without it is a stranger.
    assert client.get("/api/v1/session").status_code == 401


@pytest.mark.parametrize("header", ["Bearer xc_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz"])
def test_bad_credentials_are_401_in_the_json_error_shape(client, ctx, header):
    response = client.get("/api/v1/session", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_revoked_token_fails(client, runner, ctx):
    make_user("insp")
    db.session.commit()
    token = _issue(runner, "insp")
    assert client.get("/api/v1/session", headers=_bearer(token)).status_code == 200
    result = runner.invoke(args=["revoke-token", "insp"])
    assert result.exit_code == 0 and "revoked 1" in result.output
    assert client.get("/api/v1/session", headers=_bearer(token)).status_code == 401
    assert db.session.scalars(select(ApiToken)).one().revoked_at is not None  # kept for the record


def test_disabled_users_token_fails(client, runner, ctx):
    user = make_user("insp")
    db.session.commit()
    token = _issue(runner, "insp")
    user.disabled = True
    db.session.commit()
    assert client.get("/api/v1/session", headers=_bearer(token)).status_code == 401


def test_bearer_requests_ignore_the_session_cookie(client, auth, runner, ctx):
    make_user("dk", roles=("desk",))
    make_user("insp", roles=("inspector",))
    db.session.commit()
    token = _issue(runner, "insp")
    auth.login("dk")
    assert client.get("/api/v1/session").get_json()["user"]["username"] == "dk"

    # The token decides who is asking, not the browser's cookie …
    response = client.get("/api/v1/session", headers=_bearer(token))
    assert response.get_json()["user"]["username"] == "insp"
    # … and a bad token is not rescued by a valid session.
    assert client.get("/api/v1/session", headers=_bearer("xc_wrong")).status_code == 401


def _ok_record(community_id: int) -> dict:
    return {"kind": "ok", "captured_at": datetime.now(timezone.utc).isoformat(), "community_id": community_id,
            "note": "卫生尚可"}


def test_bearer_writes_need_no_csrf_token(client, runner, ctx):
    make_user("insp", roles=("inspector",))
    community = make_community()
    db.session.commit()
    token = _issue(runner, "insp")
    finding_uuid = str(uuid.uuid4())
    response = client.put(f"/api/v1/findings/{finding_uuid}", json=_ok_record(community.id), headers=_bearer(token))
    assert response.status_code == 201, response.get_json()
    assert db.session.scalar(select(Finding.inspector_id).where(Finding.uuid == finding_uuid)) is not None


def test_cookie_writes_still_need_a_csrf_token(client, auth, ctx):
    make_user("insp", roles=("inspector",))
    community = make_community()
    db.session.commit()
    auth.login("insp")
    response = client.put(f"/api/v1/findings/{uuid.uuid4()}", json=_ok_record(community.id))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert db.session.scalars(select(Finding)).all() == []

    csrf = client.get("/api/v1/session").get_json()["csrf_token"]
    response = client.put(f"/api/v1/findings/{uuid.uuid4()}", json=_ok_record(community.id),
                          headers={"X-CSRFToken": csrf})
    assert response.status_code == 201


def test_a_token_request_costs_one_query_and_its_access_line_none(app, client, caplog):
    """The lookup runs before every API request: one statement (user, token and roles), and the user's
    scope collections wait until a scope check reads them. The access line is written after the view
    committed, which expires the user: its id must come without reloading it."""
    import logging

    from sqlalchemy import event

    from tests.factories import make_site
    from webapp.auth.tokens import issue_token
    from webapp.logging_setup import REQUEST_LOGGER

    with app.app_context():
        site = make_site()
        user = make_user("insp-queries", roles=("inspector",), sites=[site])
        raw = issue_token(user, "test")
        db.session.commit()
        user_id = user.id
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            statements.append(statement)

    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get("/api/v1/no-such-route", headers=_bearer(raw)).status_code == 404
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements
    assert [r.user_id for r in caplog.records if r.name == REQUEST_LOGGER] == [user_id]
