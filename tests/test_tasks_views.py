"""The parties' "我的任务" and the inspector's "待核查": scope, zones, deadline order, the form
fallback of every action (photos included), the lazy overdue sweep, and the badges."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.workflow_support import build_world, finding_in, jpeg, new_uuid
from webapp.extensions import db
from webapp.models import Finding, Zone
from webapp.models.mixins import utcnow
from webapp.services import workflow


@pytest.fixture
def w(app, ctx):
    return build_world()


def _html(response) -> str:
    return response.get_data(as_text=True)


def _form(html: str, finding_uuid: str, action: str) -> dict:
    card = html[html.index(f'id="task-{finding_uuid}"'):]
    form = re.search(rf'<form[^>]*data-action="{action}".*?</form>', card, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def _soon(hours: float):
    return utcnow() + timedelta(hours=hours)


def test_party_sees_own_tasks_by_deadline_only(client, auth, w):
    later = finding_in(w, "dispatched", deadline=_soon(8), note="晚一点")
    sooner = finding_in(w, "acknowledged", deadline=_soon(2), note="早一点")
    other = finding_in(w, "dispatched", site=w.other_market, deadline=_soon(1))  # 汇金社区
    market = finding_in(w, "dispatched", market=True, deadline=_soon(1))  # the market manager's
    auth.login("staff")
    html = _html(client.get("/tasks/"))
    assert html.index(sooner.uuid) < html.index(later.uuid)
    assert other.uuid not in html and market.uuid not in html
    assert 'data-action="acknowledge"' in html[html.index(later.uuid):]


def test_market_manager_sees_their_market_grouped_by_zone(client, auth, w):
    zones = {z.name: z for z in db.session.query(Zone).filter_by(site_id=w.market.id)}
    poultry = finding_in(w, "dispatched", market=True, zone_id=zones["活禽区"].id, deadline=_soon(1),
                         category_code="poultry_open")
    fruit = finding_in(w, "dispatched", market=True, zone_id=zones["果蔬区"].id, deadline=_soon(5))
    finding_in(w, "dispatched", site=w.other_market, deadline=_soon(1))
    lane = finding_in(w, "dispatched", deadline=_soon(1))
    auth.login("mgr")
    html = _html(client.get("/tasks/"))
    # zones in the market's own order (果蔬区 before 活禽区), whatever the deadlines
    assert html.index("湖西早市 · 果蔬区") < html.index(fruit.uuid) < html.index("湖西早市 · 活禽区") \
        < html.index(poultry.uuid)
    assert "柳园农贸市场" not in html and lane.uuid not in html


def test_acknowledge_rectify_and_dispute_through_the_forms(client, auth, w):
    f = finding_in(w, "dispatched", deadline=_soon(4))
    g = finding_in(w, "dispatched", deadline=_soon(4))
    auth.login("staff")
    html = _html(client.get("/tasks/"))
    client.post(f"/tasks/findings/{f.uuid}/act", data=_form(html, f.uuid, "acknowledge"))
    db.session.expire_all()
    assert db.session.get(Finding, f.id).status == "acknowledged"

    html = _html(client.get("/tasks/"))
    fields = _form(html, f.uuid, "rectify")
    import io
    response = client.post(f"/tasks/findings/{f.uuid}/act", content_type="multipart/form-data", data={
        **fields, "note": "已清理干净", "photos": (io.BytesIO(jpeg(seed=8)), "after.jpg", "image/jpeg")})
    assert response.status_code == 302
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert f.status == "rectified" and [p.kind for p in f.photos] == ["after"]
    assert f.events[-1].note == "已清理干净"

    dispute = _form(html, g.uuid, "dispute")
    response = client.post(f"/tasks/findings/{g.uuid}/act", data={**dispute, "reason": "not_ours"},
                           follow_redirects=True)
    assert "已提出异议" in _html(response)
    db.session.expire_all()
    assert db.session.get(Finding, g.id).status == "disputed"


def test_rectify_without_a_photo_is_refused_with_a_message(client, auth, w):
    f = finding_in(w, "acknowledged", deadline=_soon(4))
    auth.login("staff")
    fields = _form(_html(client.get("/tasks/")), f.uuid, "rectify")
    response = client.post(f"/tasks/findings/{f.uuid}/act", data={**fields, "note": "好了"}, follow_redirects=True)
    assert "请至少拍一张整改后的照片" in _html(response)
    db.session.expire_all()
    assert db.session.get(Finding, f.id).status == "acknowledged"


def test_tasks_page_marks_overdue_lazily_and_badges_count_it(client, auth, w):
    late = finding_in(w, "acknowledged", deadline=_soon(-1))
    finding_in(w, "dispatched", deadline=_soon(3))  # new, not yet acknowledged
    finding_in(w, "acknowledged", deadline=_soon(3))  # neither new nor late
    auth.login("staff")
    html = _html(client.get("/tasks/"))
    db.session.expire_all()
    assert db.session.get(Finding, late.id).overdue_at is not None
    assert "已超期" in html[html.index(late.uuid):]
    nav = re.search(r'href="/tasks/"[^>]*>.*?</a>', html, re.S).group(0)
    assert '<span class="badge">2</span>' in nav


def test_pages_are_for_their_roles(client, auth, w):
    auth.login("insp")
    assert client.get("/tasks/").status_code == 403
    assert client.get("/tasks/verify").status_code == 200
    auth.logout()
    auth.login("staff")
    assert client.get("/tasks/verify").status_code == 403


def test_inspector_verify_list_rejections_and_badge(client, auth, w):
    mine = finding_in(w, "rectified")
    other = finding_in(w, "rectified")
    other.inspector_id = w.other_inspector.id
    refused = finding_in(w, "submitted", note="楼道堆物")
    db.session.commit()
    workflow.apply_action(w.desk, refused.uuid, new_uuid(), {"type": "reject", "reason": "unclear",
                                                            "note": "照片太暗"})
    auth.login("insp")
    home = _html(client.get("/capture/"))
    nav = re.search(r'href="/tasks/verify"[^>]*>.*?</a>', home, re.S).group(0)
    assert '<span class="badge">2</span>' in nav  # one to verify + one rejection not yet seen
    html = _html(client.get("/tasks/verify"))
    assert mine.uuid in html and other.uuid not in html
    assert "照片太暗" in html and "照片不清" in html
    nav = re.search(r'href="/tasks/verify"[^>]*>.*?</a>', _html(client.get("/tasks/verify")), re.S).group(0)
    assert '<span class="badge">1</span>' in nav  # the rejection has been seen

    fields = _form(html, mine.uuid, "verify")
    client.post(f"/tasks/findings/{mine.uuid}/act", data=fields)
    db.session.expire_all()
    assert db.session.get(Finding, mine.id).status == "verified"
