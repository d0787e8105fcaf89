"""Login, logout, remember-me, disabled accounts, safe `next` redirects, CSRF and role-aware homes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from tests.conftest import csrf_from
from tests.factories import make_user
from webapp.extensions import db
from webapp.services.demo import DEMO_PASSWORD, seed_demo


def _set_cookies(response) -> dict[str, str]:
    """name → the whole Set-Cookie header, attributes included."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def _attributes(header: str) -> dict[str, str]:
    parts = [p.strip() for p in header.split(";")[1:]]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else "") for p in parts}


def test_login_page_renders_with_csrf_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert csrf_from(page)
    assert 'name="username"' in page and 'name="password"' in page and 'name="remember"' in page


def test_anonymous_pages_redirect_to_login_with_next(client):
    response = client.get("/review/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/review/"]
    assert urlsplit(client.get("/").headers["Location"]).path == "/login"


def test_login_and_logout(client, auth, ctx):
    make_user("insp")
    db.session.commit()
    response = auth.login("insp")
    assert response.status_code == 302 and response.headers["Location"].endswith("/capture/")
    assert client.get("/capture/").status_code == 200

    response = auth.logout()
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert client.get("/capture/").status_code == 302


@pytest.mark.parametrize("username,password", [("insp", "wrong-password"), ("nobody", "correct-horse-42")])
def test_bad_credentials_get_one_message(client, auth, ctx, username, password):
    make_user("insp")
    db.session.commit()
    response = auth.login(username, password=password)
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert client.get("/capture/").status_code == 302


@pytest.mark.parametrize("username,password,disabled,status", [
    ("insp", "wrong-password", False, 401), ("nobody", "correct-horse-42", False, 401),
    ("insp", "correct-horse-42", True, 401), ("insp", "correct-horse-42", False, 302)])
def test_every_login_hashes_the_password_at_the_same_cost(client, auth, ctx, monkeypatch,
                                                         username, password, disabled, status):
    """An unknown username is hashed against a dummy of the same method and cost, so response times do
    not tell which usernames exist (counted, not timed: timing would be flaky on a shared machine)."""
    make_user("insp", disabled=disabled)
    db.session.commit()
    methods = []

    def spy(pwhash: str, pw: str) -> bool:
        methods.append(pwhash.split("$", 1)[0])
        return check_password_hash(pwhash, pw)

    monkeypatch.setattr("webapp.auth.views.check_password_hash", spy)
    assert auth.login(username, password=password).status_code == status
    assert methods == [generate_password_hash("x").split("$", 1)[0]]  # e.g. scrypt:32768:8:1


def test_disabled_user_is_refused(client, auth, ctx):
    make_user("gone", disabled=True)
    db.session.commit()
    response = auth.login("gone")
    assert response.status_code == 401
    assert client.get("/capture/").status_code == 302


def test_disabling_ends_an_open_session(client, auth, ctx):
    user = make_user("insp")
    db.session.commit()
    auth.login("insp", remember=True)
    assert client.get("/capture/").status_code == 200
    user.disabled = True
    db.session.commit()
    assert client.get("/capture/").status_code == 302  # neither the session nor the remember cookie works


def test_remember_me_cookie_lasts_30_days_httponly_lax(client, auth, ctx):
    make_user("insp")
    db.session.commit()
    response = auth.login("insp", remember=True)
    cookies = _set_cookies(response)
    assert "remember_token" in cookies
    attrs = _attributes(cookies["remember_token"])
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "lax"
    expires = parsedate_to_datetime(attrs["expires"])
    assert abs(expires - (datetime.now(timezone.utc) + timedelta(days=30))) < timedelta(minutes=5)
    session_attrs = _attributes(cookies["session"])
    assert "httponly" in session_attrs and session_attrs["samesite"].lower() == "lax"
    assert "secure" not in session_attrs  # plain http in development and tests; production sets Secure

    # A phone whose browser dropped the session cookie is still logged in through the remember cookie.
    client.delete_cookie("session", domain="localhost")
    assert client.get("/capture/").status_code == 200


def test_without_remember_me_no_remember_cookie(client, auth, ctx):
    make_user("insp")
    db.session.commit()
    response = auth.login("insp", remember=False)
    assert "remember_token" not in _set_cookies(response)
    client.delete_cookie("session", domain="localhost")
    assert client.get("/capture/").status_code == 302


def test_logout_clears_remember_cookie(client, auth, ctx):
    make_user("insp")
    db.session.commit()
    auth.login("insp", remember=True)
    response = auth.logout()
    cleared = _set_cookies(response).get("remember_token", "")
    assert cleared, "logout must clear the remember cookie"
    assert parsedate_to_datetime(_attributes(cleared)["expires"]) < datetime.now(timezone.utc)
    assert client.get("/capture/").status_code == 302


def test_local_next_is_followed(client, auth, ctx):
    make_user("dk", roles=("desk",))
    db.session.commit()
    response = auth.login("dk", next="/reports/?day=2026-09-18")
    assert response.headers["Location"].endswith("/reports/?day=2026-09-18")


@pytest.mark.parametrize("target", [
    "//evil.com", "https://evil.com", "http://evil.com/review/", "/\\evil.com", "\\\\evil.com",
    "/\t/evil.com", "javascript:alert(1)", "evil.com", "///evil.com", "https:/evil.com",
])
def test_next_must_be_local(client, auth, ctx, target):
    make_user("dk", roles=("desk",))
    db.session.commit()
    response = auth.login("dk", next=target)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost") and location.path == "/review/"


def test_login_post_without_csrf_token_is_refused(client, ctx):
    make_user("insp")
    db.session.commit()
    client.get("/login")
    response = client.post("/login", data={"username": "insp", "password": "correct-horse-42"})
    assert response.status_code == 400
    assert client.get("/capture/").status_code == 302


def test_login_post_with_a_forged_csrf_token_is_refused(client, ctx):
    make_user("insp")
    db.session.commit()
    client.get("/login")
    response = client.post("/login", data={"username": "insp", "password": "correct-horse-42",
                                           "csrf_token": "forged.token.value"})
    assert response.status_code == 400


def test_logout_without_csrf_token_is_refused(client, auth, ctx):
    make_user("insp")
    db.session.commit()
    auth.login("insp")
    response = client.post("/logout")
    assert response.status_code == 400
    assert client.get("/capture/").status_code == 200  # still logged in
    assert client.get("/logout").status_code == 405  # and no logging out by a link or an <img>


@pytest.fixture
def demo_users(app):
    with app.app_context():
        seed_demo(history=False)


# Each demo account's home: the work list of its role.
DEMO_HOMES = {
    "inspector": "/capture/",
    "inspector2": "/capture/",
    "desk": "/review/",
    "manager": "/tasks/",
    "community": "/tasks/",
    "leader": "/reports/",
    "admin": "/review/",
}


@pytest.mark.parametrize("username", sorted(DEMO_HOMES))
def test_each_demo_user_lands_on_its_own_work_list(client, auth, demo_users, username):
    response = auth.login(username, password=DEMO_PASSWORD)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == DEMO_HOMES[username]
    home = client.get("/")
    assert urlsplit(home.headers["Location"]).path == DEMO_HOMES[username]
    page = client.get(DEMO_HOMES[username])
    assert page.status_code == 200
    assert page.mimetype == "text/html"


def test_roles_cannot_open_each_others_work_lists(client, auth, demo_users):
    auth.login("inspector", password=DEMO_PASSWORD)
    assert client.get("/review/").status_code == 403
    assert client.get("/tasks/").status_code == 403
    auth.logout()
    auth.login("leader", password=DEMO_PASSWORD)
    assert client.get("/capture/").status_code == 403
    assert client.get("/review/").status_code == 403
