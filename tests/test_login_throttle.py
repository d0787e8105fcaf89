"""Login throttling (per account, per address; 429 + Retry-After) and the session cookies' attributes."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import Auth, csrf_from
from tests.factories import make_user
from webapp import create_app
from webapp.extensions import db
from webapp.models import LoginAttempt
from webapp.models.mixins import utcnow
from webapp.services import login_throttle
from webapp.services.login_throttle import Limits

GENERIC = "用户名或密码不正确,或账号已停用。"


def fail(auth: Auth, username: str):
    return auth.login(username, password="wrong-password-1")


def assert_throttled(response, max_wait: int = 900):
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= max_wait
    body = response.get_data(as_text=True)
    assert "登录尝试次数过多" in body
    return wait


def test_five_failures_lock_the_account_even_against_the_right_password(app, client, auth, ctx):
    make_user("insp")
    db.session.commit()
    for _ in range(5):
        response = fail(auth, "insp")
        assert response.status_code == 401
        assert GENERIC in response.get_data(as_text=True)
    wait = assert_throttled(auth.login("insp"))
    assert wait > 890  # the window is 15 minutes and the attempts were just now
    # Case and spaces do not make a new account key.
    assert_throttled(auth.login(" INSP "))
    assert client.get("/capture/").status_code == 302  # still not logged in


def test_unknown_usernames_are_throttled_the_same_way(app, client, auth, ctx):
    make_user("insp")
    db.session.commit()
    responses = [fail(auth, "nobody-here") for _ in range(5)]
    assert {r.status_code for r in responses} == {401}
    assert_throttled(fail(auth, "nobody-here"))
    assert auth.login("insp").status_code == 302  # another account from the same address is unaffected


def test_success_clears_the_accounts_counter(app, client, auth, ctx):
    make_user("insp")
    db.session.commit()
    for _ in range(4):
        assert fail(auth, "insp").status_code == 401
    assert auth.login("insp").status_code == 302
    auth.logout()
    for _ in range(5):
        assert fail(auth, "insp").status_code == 401
    assert_throttled(fail(auth, "insp"))


def test_twenty_failures_from_one_address_block_it_for_every_account(app, client, auth):
    # No `ctx` here: requests made inside a shared app context share `g`, and with it Flask-WTF's
    # cached CSRF token, which would leave the second client's session without one.
    with app.app_context():
        make_user("insp")
        db.session.commit()
    for i in range(20):
        assert fail(auth, f"guess{i}").status_code == 401
    assert_throttled(auth.login("insp"))
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.20.30.40"
    assert Auth(other).login("insp").status_code == 302


def test_forwarded_for_is_ignored_without_a_trusted_proxy(app, client, auth, ctx):
    for i in range(20):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{i}"
        assert fail(auth, f"guess{i}").status_code == 401
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    assert_throttled(fail(auth, "guess-new"))


def test_forwarded_for_counts_behind_a_trusted_proxy(app, ctx):
    proxied = create_app({
        "TESTING": True, "TRUSTED_PROXY_COUNT": 1,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        "UPLOAD_DIR": app.config["UPLOAD_DIR"],
    })
    client = proxied.test_client()
    auth = Auth(client)
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    for i in range(20):
        assert fail(auth, f"guess{i}").status_code == 401
    assert_throttled(fail(auth, "guess-new"))
    # The same proxy forwarding another phone: that phone is not blocked.
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.10"
    assert fail(auth, "guess-new").status_code == 401
    # Behind the proxy, the forwarded scheme decides HSTS.
    client.environ_base["HTTP_X_FORWARDED_PROTO"] = "https"
    assert "Strict-Transport-Security" in client.get("/login").headers


def test_attempt_keys_are_not_stored_in_clear(app, client, auth, ctx):
    fail(auth, "my-secret-password-typed-as-username")
    rows = db.session.scalars(select(LoginAttempt)).all()
    assert {r.scope for r in rows} == {"account", "address"}
    for row in rows:
        assert "secret" not in row.key_hash and "127.0.0.1" not in row.key_hash
        assert len(row.key_hash) == 64


# --- The sliding window, with the clock passed in --------------------------------------------------

LIMITS = Limits(account_max=5, address_max=20, window=timedelta(minutes=15))


def begin(username, address="10.0.0.1", now=None):
    return login_throttle.begin(username, address, secret="k", limits=LIMITS, now=now)


def test_window_slides_and_refusals_do_not_extend_it(app, ctx):
    t0 = utcnow()
    for minute in range(5):
        assert not begin("insp", now=t0 + timedelta(minutes=minute)).blocked
    gate = begin("insp", now=t0 + timedelta(minutes=10))
    assert gate.blocked and gate.retry_after == 5 * 60  # the first attempt leaves the window at t0+15
    for second in range(30):  # a user hammering during the lock-out
        assert begin("insp", now=t0 + timedelta(minutes=11, seconds=second)).blocked
    assert not begin("insp", now=t0 + timedelta(minutes=15, seconds=1)).blocked
    assert begin("insp", now=t0 + timedelta(minutes=15, seconds=2)).blocked  # back at five in the window
    # Rows older than the window are pruned as new attempts arrive.
    begin("other", now=t0 + timedelta(hours=1))
    assert db.session.scalar(select(func.min(LoginAttempt.at))) >= t0 + timedelta(minutes=45)


def test_parallel_attempts_cannot_slip_past_the_limit(app):
    """Ten workers racing on one account: exactly five get to check a password."""
    barrier = threading.Barrier(10)
    outcomes: list[bool] = []
    lock = threading.Lock()
    now = utcnow()

    def attempt(i: int) -> None:
        with app.app_context():
            barrier.wait()
            gate = begin("insp", address=f"10.0.0.{i}", now=now)
            with lock:
                outcomes.append(gate.blocked)
            db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 10
    assert outcomes.count(False) == 5


# --- Cookies ------------------------------------------------------------------------------------

def cookie_attrs(response, name: str) -> dict[str, str | bool]:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            attrs: dict[str, str | bool] = {}
            for part in header.split(";")[1:]:
                key, _, value = part.strip().partition("=")
                attrs[key.lower()] = value or True
            return attrs
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.getlist('Set-Cookie')}")


def test_cookies_are_httponly_and_lax_and_not_secure_over_http(app, client, auth, ctx):
    make_user("insp")
    db.session.commit()
    response = auth.login("insp", remember=True)
    assert response.status_code == 302
    for name in ("session", "remember_token"):
        attrs = cookie_attrs(response, name)
        assert attrs.get("httponly") is True
        assert attrs.get("samesite") == "Lax"
        assert "secure" not in attrs


@pytest.fixture
def production_app(app):
    return create_app({
        "ENV_NAME": "production", "SECRET_KEY": "production-test-key-" + "x" * 20,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        "UPLOAD_DIR": app.config["UPLOAD_DIR"],
    })


def test_production_cookies_are_secure_httponly_and_lax(production_app, ctx):
    make_user("insp")
    db.session.commit()
    client = production_app.test_client()
    page = client.get("/login", base_url="https://xuncha.example")
    # Over HTTPS Flask-WTF also checks that the Referer is our own origin.
    response = client.post("/login", base_url="https://xuncha.example",
                           headers={"Referer": "https://xuncha.example/login"}, data={
        "username": "insp", "password": "correct-horse-42", "remember": "y",
        "csrf_token": csrf_from(page.get_data(as_text=True)), "next": "",
    })
    assert response.status_code == 302
    for name in ("session", "remember_token"):
        attrs = cookie_attrs(response, name)
        assert attrs.get("secure") is True
        assert attrs.get("httponly") is True
        assert attrs.get("samesite") == "Lax"
    assert production_app.config["REMEMBER_COOKIE_DURATION"] <= timedelta(days=31)
