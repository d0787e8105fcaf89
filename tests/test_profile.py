"""The profile page: own password (same rules as the console), language, and the forced change after
a temporary password."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import csrf_from
from tests.factories import make_user
from webapp.auth.tokens import issue_token
from webapp.extensions import db
from webapp.models import AuditEvent


def change(client, current, new, confirm=None):
    token = csrf_from(client.get("/account").get_data(as_text=True))
    return client.post("/account/password", data={"csrf_token": token, "current": current, "new": new,
                                                  "confirm": new if confirm is None else confirm})


def test_temporary_password_forces_change_before_anything_else(app, client, auth, ctx):
    user = make_user("huxi-mgr", roles=("manager",), password="tmp4k7pq2x")
    user.must_change_password = True
    db.session.commit()
    response = auth.login("huxi-mgr", password="tmp4k7pq2x")
    assert response.status_code == 302
    assert client.get("/tasks/").headers["Location"].endswith("/account")
    page = client.get("/account").get_data(as_text=True)
    assert "请先设置您自己的密码" in page
    api = client.get("/api/v1/reference")
    assert api.status_code == 403 and api.get_json()["error"]["code"] == "password_change_required"

    response = change(client, "tmp4k7pq2x", "huxi-zaoshi-2024")
    assert response.status_code == 302 and response.headers["Location"].endswith("/tasks/")
    db.session.expire_all()
    assert not user.must_change_password and user.check_password("huxi-zaoshi-2024")
    assert client.get("/tasks/").status_code == 200
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.change_password"))
    assert event.actor_id == user.id and "huxi-zaoshi-2024" not in str(event.after)


def test_bearer_token_is_not_blocked_by_the_forced_change(app, client, ctx):
    user = make_user("phone-user", roles=("inspector",))
    user.must_change_password = True
    raw = issue_token(user, "phone")
    db.session.commit()
    response = client.get("/api/v1/reference", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200


@pytest.mark.parametrize("current, new, confirm, message", [
    ("wrong-password", "a-good-one-9", None, "当前密码不正确"),
    ("correct-horse-42", "short1", None, "密码至少 8 位"),
    ("correct-horse-42", "1234567890", None, "密码不能全是数字"),
    ("correct-horse-42", "wenyuan01", None, "密码不能与用户名相同"),
    ("correct-horse-42", "correct-horse-42", None, "新密码不能与当前密码相同"),
    ("correct-horse-42", "a-good-one-9", "a-good-one-8", "两次输入的新密码不一致"),
])
def test_password_rules_on_profile(app, client, auth, ctx, current, new, confirm, message):
    user = make_user("wenyuan01", roles=("community",))
    db.session.commit()
    auth.login("wenyuan01")
    response = change(client, current, new, confirm)
    assert response.status_code in (400, 422)
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert user.check_password("correct-horse-42")


def test_language_choice_saved_and_applied(app, client, auth, ctx):
    user = make_user("leader1", roles=("leader",))
    db.session.commit()
    auth.login("leader1")
    token = csrf_from(client.get("/account").get_data(as_text=True))
    response = client.post("/account/language", data={"csrf_token": token, "locale": "en"})
    assert response.status_code == 302 and "lang=en" in response.headers["Set-Cookie"]
    db.session.expire_all()
    assert user.locale == "en"
    token = csrf_from(client.get("/account").get_data(as_text=True))
    assert client.post("/account/language", data={"csrf_token": token, "locale": "fr"}).status_code == 400
