"""The audit trail page: every console change is listed with who/when/before → after, and filters work.
Also the console's webhook and notice actions, which are audited like the rest."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import csrf_from
from tests.factories import make_community, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Notice, Webhook
from webapp.services import admin_places

WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"


@pytest.fixture
def admin(ctx, auth):
    user = make_user("boss", roles=("admin",))
    user.display_name = "街道管理员"
    db.session.commit()
    auth.login("boss")
    return user


def test_audit_page_lists_and_filters(app, client, admin):
    other_admin = make_user("deputy", roles=("admin",))
    street = make_street("柳园街道")
    db.session.commit()
    admin_places.rename(admin, street, "柳园新街道")
    community = admin_places.create_community(other_admin, street, "文苑社区")
    admin_places.retire(other_admin, community)

    page = client.get("/admin/audit/").get_data(as_text=True)
    assert page.count('class="row"') == 3
    assert "改名" in page and "柳园街道" in page and "柳园新街道" in page  # before → after, in words
    page = client.get(f"/admin/audit/?actor={other_admin.id}").get_data(as_text=True)
    assert page.count('class="row"') == 2 and "柳园新街道</strong>" not in page
    page = client.get("/admin/audit/?entity_type=street").get_data(as_text=True)
    assert page.count('class="row"') == 1
    page = client.get(f"/admin/audit/?entity_type=community&entity_id={community.id}").get_data(as_text=True)
    assert page.count('class="row"') == 2
    page = client.get("/admin/audit/?q=文苑").get_data(as_text=True)
    assert page.count('class="row"') == 2
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert client.get(f"/admin/audit/?from={tomorrow}").get_data(as_text=True).count('class="row"') == 0
    # Nonsense filters are ignored rather than failing.
    assert client.get("/admin/audit/?entity_type=bogus&actor=x&from=yesterday").status_code == 200


def test_webhook_save_masks_and_audits_without_the_secret(app, client, admin):
    site = make_site(make_community(make_street("古楼街道"), "香江社区"), "湖西早市", kind="market")
    db.session.commit()
    url = f"/admin/places/sites/{site.id}"
    csrf = csrf_from(client.get(url).get_data(as_text=True))
    response = client.post(f"/admin/places/site/{site.id}/webhook", data={
        "csrf_token": csrf, "kind": "wecom", "url": WECOM, "enabled": "y", "notify_dispatch": "y",
        "overdue_times": "9:00,15:30", "report_time": ""})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "https://qyapi.weixin.qq.com/…key=****5aaa" in page
    assert "693a91f6" not in page and 'value="https://qyapi' not in page  # never shown again in full
    # Changing only the schedule keeps the stored URL.
    client.post(f"/admin/places/site/{site.id}/webhook", data={
        "csrf_token": csrf, "kind": "wecom", "url": "", "enabled": "y", "overdue_times": "10:00"})
    hook = db.session.scalar(select(Webhook))
    db.session.refresh(hook)
    assert hook.overdue_times == "10:00" and not hook.notify_dispatch and hook.url_hint.endswith("5aaa")
    bad = client.post(f"/admin/places/site/{site.id}/webhook", data={
        "csrf_token": csrf, "kind": "wecom", "url": "https://evil.example.com/hook", "overdue_times": "25:00"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "只允许这些平台的地址" in text and "HH:MM" in text
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "webhook")
                                     .order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["webhook.create", "webhook.update"]
    assert events[1].before == {"notify_dispatch": True, "overdue_times": "09:00,15:30"}
    assert events[1].after == {"notify_dispatch": False, "overdue_times": "10:00"}
    assert all("693a91f6" not in str(e.before) + str(e.after) for e in events)

    # A community is not a market's robot owner, and a non-market site has no robot at all.
    plain = make_site(site.community, "湖西小区")
    db.session.commit()
    assert client.post(f"/admin/places/site/{plain.id}/webhook", data={"csrf_token": csrf}).status_code == 404

    client.post(f"/admin/webhooks/{hook.id}/test", data={"csrf_token": csrf})
    (notice,) = db.session.scalars(select(Notice))
    assert notice.event_type == "test" and "测试消息" in notice.content
    client.post(f"/admin/places/site/{site.id}/webhook/delete", data={"csrf_token": csrf})
    db.session.refresh(hook)
    assert not hook.enabled and hook.url_hint == "" and hook.secret_encrypted is None
    actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["notice.test", "webhook.delete"]
