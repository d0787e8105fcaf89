"""Admin console: users, roles, scope, passwords, tokens — and the audit row each change leaves."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import csrf_from
from tests.factories import make_community, make_site, make_street, make_user
from webapp.auth.tokens import issue_token, user_for_token
from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, User
from webapp.services import admin as admin_service
from webapp.services.errors import Invalid

TEMP_RE = re.compile(r'id="temp-password">([a-z0-9]+)<')


@pytest.fixture
def admin(ctx, auth):
    user = make_user("boss", roles=("admin",))
    db.session.commit()
    auth.login("boss")
    return user


def form_token(client, url: str) -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def audit_rows(action: str | None = None) -> list[AuditEvent]:
    db.session.expire_all()
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


@pytest.mark.parametrize("password, ok", [
    ("short7!", False), ("12345678901", False), ("huxi-mgr", False), ("HUXI-MGR", False),
    ("correct-horse", True), ("1234567a", True),
])
def test_password_rules(app, ctx, password, ok):
    assert (admin_service.password_problems(password, "huxi-mgr") == []) is ok


def test_non_admin_gets_403_and_anonymous_goes_to_login(app, client, auth, ctx):
    make_user("desk1", roles=("desk",))
    db.session.commit()
    assert client.get("/admin/users/").status_code == 302
    auth.login("desk1")
    assert client.get("/admin/users/").status_code == 403
    assert client.get("/admin/").status_code == 403


def test_create_market_manager_with_picker_and_temp_password(app, client, admin):
    market = make_site(make_community(make_street("古楼街道"), "湖西社区"), "湖西早市", kind="market")
    make_site(market.community, "湖西小区", kind="residential")
    db.session.commit()
    page = client.get("/admin/users/new").get_data(as_text=True)
    assert "湖西早市" in page and "湖西小区" not in page  # only market sites are offered to managers
    response = client.post("/admin/users/new", data={
        "csrf_token": csrf_from(page), "username": "huxi-mgr", "display_name": "湖西早市管理员",
        "roles": ["manager"], "site_ids": [str(market.id)], "locale": "zh_CN"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    temp = TEMP_RE.search(body).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    user = db.session.scalar(select(User).where(User.username == "huxi-mgr"))
    assert user.must_change_password and user.check_password(temp)
    assert [s.name for s in user.sites] == ["湖西早市"] and user.roles == {"manager"}
    assert admin_service.password_problems(temp, "huxi-mgr") == []
    (event,) = audit_rows("user.create")
    assert event.actor_id == admin.id and event.entity_id == user.id
    assert event.after["sites"] == ["湖西早市"] and event.after["roles"] == ["manager"]
    assert temp not in str(event.after)


def test_manager_without_a_market_is_refused_with_field_error(app, client, admin):
    token = form_token(client, "/admin/users/new")
    response = client.post("/admin/users/new", data={"csrf_token": token, "username": "nobody", "display_name": "某人",
                                                     "roles": ["manager"], "locale": "zh_CN"})
    assert response.status_code == 422
    assert "市场管理员至少要负责一个市场" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.username == "nobody")) is None
    assert audit_rows() == []


def test_duplicate_username_is_refused(app, client, admin):
    token = form_token(client, "/admin/users/new")
    response = client.post("/admin/users/new", data={"csrf_token": token, "username": "BOSS", "display_name": "x",
                                                     "roles": ["desk"], "locale": "zh_CN"})
    assert response.status_code == 422 and "用户名已存在" in response.get_data(as_text=True)


def test_edit_roles_and_scope_is_audited_before_after(app, client, admin):
    street = make_street("柳园街道")
    wenyuan = make_community(street, "文苑社区")
    gongyuan = make_community(street, "公园社区")
    staff = make_user("staff", roles=("community",), communities=[wenyuan])
    db.session.commit()
    token = form_token(client, f"/admin/users/{staff.id}")
    response = client.post(f"/admin/users/{staff.id}", data={
        "csrf_token": token, "display_name": "社区网格员", "roles": ["community", "inspector"],
        "community_ids": [str(gongyuan.id)], "locale": "en"})
    assert response.status_code == 302
    db.session.expire_all()
    assert staff.roles == {"community", "inspector"} and [c.name for c in staff.communities] == ["公园社区"]
    (event,) = audit_rows("user.update")
    assert event.before == {"display_name": "staff", "locale": "zh_CN", "roles": ["community"],
                            "communities": ["文苑社区"]}
    assert event.after == {"display_name": "社区网格员", "locale": "en", "roles": ["community", "inspector"],
                           "communities": ["公园社区"]}


def test_retired_place_cannot_be_newly_added_but_may_stay(app, ctx):
    actor = make_user("root", roles=("admin",))
    community = make_community()
    other = make_community(community.street)
    user = make_user("c1", roles=("community",), communities=[community])
    db.session.commit()
    from webapp.models.mixins import utcnow

    community.retired_at = other.retired_at = utcnow()
    db.session.commit()
    data = admin_service.UserData(display_name="c1", roles=["community"], community_ids=[community.id])
    admin_service.update_user(actor, user, data)  # keeping a retired community is allowed
    with pytest.raises(Invalid) as err:
        admin_service.update_user(actor, user, admin_service.UserData(
            display_name="c1", roles=["community"], community_ids=[community.id, other.id]))
    assert "community_ids" in err.value.fields


def test_disable_enable_and_not_yourself(app, client, admin):
    target = make_user("insp1")
    db.session.commit()
    raw = issue_token(target, "phone")
    db.session.commit()
    token = form_token(client, f"/admin/users/{target.id}")
    response = client.post(f"/admin/users/{target.id}/disable", data={"csrf_token": token}, follow_redirects=True)
    assert response.history[0].status_code == 302 and "已停用 insp1" in response.get_data(as_text=True)
    db.session.expire_all()
    assert target.disabled and user_for_token(raw) is None
    response = client.post(f"/admin/users/{target.id}/enable", data={"csrf_token": token}, follow_redirects=True)
    assert "已启用 insp1" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not target.disabled
    response = client.post(f"/admin/users/{admin.id}/disable", data={"csrf_token": token}, follow_redirects=True)
    assert "不能停用自己的账号" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not admin.disabled
    assert [e.action for e in audit_rows()] == ["user.disable", "user.enable"]
    assert audit_rows("user.disable")[0].after == {"disabled": True}


def test_admin_cannot_remove_own_admin_role(app, client, admin):
    token = form_token(client, f"/admin/users/{admin.id}")
    response = client.post(f"/admin/users/{admin.id}", data={"csrf_token": token, "display_name": "boss",
                                                             "roles": ["desk"], "locale": "zh_CN"})
    assert response.status_code == 422
    db.session.expire_all()
    assert "admin" in admin.roles


def test_reset_password_shows_it_once_and_forces_change(app, client, admin):
    target = make_user("insp2")
    db.session.commit()
    token = form_token(client, f"/admin/users/{target.id}")
    response = client.post(f"/admin/users/{target.id}/reset-password", data={"csrf_token": token})
    temp = TEMP_RE.search(response.get_data(as_text=True)).group(1)
    db.session.expire_all()
    assert target.check_password(temp) and not target.check_password("correct-horse-42")
    assert target.must_change_password
    assert temp not in client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    (event,) = audit_rows("user.reset_password")
    assert temp not in str(event.before) + str(event.after) + event.note


def test_tokens_listed_and_revocable(app, client, admin):
    target = make_user("insp3")
    raw = issue_token(target, "华为手机")
    db.session.commit()
    page = client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    assert "华为手机" in page and raw not in page
    token_row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == target.id))
    response = client.post(f"/admin/users/{target.id}/tokens/{token_row.id}/revoke", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert user_for_token(raw) is None
    (event,) = audit_rows("token.revoke")
    assert event.entity_type == "api_token" and event.entity_id == token_row.id
    other = make_user("insp4")
    db.session.commit()
    # A token id that belongs to someone else is a 404, not a revocation.
    assert client.post(f"/admin/users/{other.id}/tokens/{token_row.id}/revoke",
                       data={"csrf_token": csrf_from(page)}).status_code == 302
    assert len(audit_rows("token.revoke")) == 1


def test_user_list_search_and_filters(app, client, admin):
    make_user("zhang", roles=("inspector",))
    make_user("li", roles=("desk",), disabled=True)
    db.session.commit()
    page = client.get("/admin/users/?q=zha").get_data(as_text=True)
    assert "zhang" in page and ">li<" not in page
    page = client.get("/admin/users/?state=disabled").get_data(as_text=True)
    assert "li" in page and "zhang" not in page
    page = client.get("/admin/users/?role=desk").get_data(as_text=True)
    assert "zhang" not in page and "li" in page
