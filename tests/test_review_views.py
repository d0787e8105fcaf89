"""The desk's pages: queue, finding page (triage and history), form actions, bulk accept, badges."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import csrf_from
from tests.workflow_support import attach_before, build_world, finding_in, new_uuid, upload
from webapp.extensions import db
from webapp.models import Finding
from webapp.services import workflow
from webapp.services.geo import wgs84_to_gcj02

UTC = timezone.utc
T0 = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)


@pytest.fixture
def w(app, ctx):
    return build_world()


def _html(response) -> str:
    return response.get_data(as_text=True)


def _form_fields(html: str, form_id: str) -> dict:
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_queue_lists_submitted_oldest_first_with_counts(client, auth, w):
    later = finding_in(w, "submitted", captured_at=T0 + timedelta(hours=1), note="后来的")
    earlier = finding_in(w, "submitted", captured_at=T0)
    finding_in(w, "dispatched")
    auth.login("desk")
    html = _html(client.get("/review/"))
    assert html.index(earlier.uuid) < html.index(later.uuid)
    assert "共 2 条" in html
    assert "香江社区 (2)" in html
    assert '<span class="badge">2</span>' in html  # desk badge: to review


def test_queue_is_for_the_desk_only(client, auth, w):
    auth.login("staff")
    assert client.get("/review/").status_code == 403


def test_accept_from_the_finding_page_advances_to_the_next(client, auth, w):
    first = finding_in(w, "submitted", captured_at=T0)
    second = finding_in(w, "submitted", captured_at=T0 + timedelta(minutes=1))
    auth.login("desk")
    page = client.get(f"/review/findings/{first.uuid}")
    html = _html(page)
    assert "立案并派遣" in html and 'id="fd-next"' in html
    fields = _form_fields(html, "fd-accept")
    response = client.post(f"/review/findings/{first.uuid}/act", data={**fields, "party": "auto"})
    assert response.status_code == 302
    assert second.uuid in response.headers["Location"]
    db.session.expire_all()
    f = db.session.get(Finding, first.id)
    assert f.status == "dispatched" and f.party_community_id == w.xiangjiang.id
    # the same form again (double click): the action uuid makes it a no-op
    again = client.post(f"/review/findings/{first.uuid}/act", data={**fields, "party": "auto"})
    assert again.status_code == 302
    db.session.expire_all()
    assert db.session.get(Finding, first.id).version == 2


def test_reject_needs_a_reason_and_says_so(client, auth, w):
    f = finding_in(w, "submitted")
    auth.login("desk")
    fields = _form_fields(_html(client.get(f"/review/findings/{f.uuid}")), "fd-reject")
    response = client.post(f"/review/findings/{f.uuid}/act", data=fields, follow_redirects=True)
    assert "请选择原因" in _html(response)
    db.session.expire_all()
    assert db.session.get(Finding, f.id).status == "submitted"
    client.post(f"/review/findings/{f.uuid}/act", data={**fields, "reason": "unclear", "note": "太暗"})
    db.session.expire_all()
    assert db.session.get(Finding, f.id).status == "rejected"


def test_duplicate_offers_candidates_and_merges(client, auth, w):
    kept = finding_in(w, "dispatched", captured_at=T0 - timedelta(days=1))
    dup = finding_in(w, "submitted", captured_at=T0)
    auth.login("desk")
    html = _html(client.get(f"/review/findings/{dup.uuid}"))
    assert f'value="{kept.uuid}"' in html
    fields = _form_fields(html, "fd-duplicate")
    client.post(f"/review/findings/{dup.uuid}/act", data={**fields, "duplicate_of": kept.uuid})
    db.session.expire_all()
    assert db.session.get(Finding, dup.id).duplicate_of_id == kept.id


def test_bulk_accept_and_dispatch_is_idempotent(client, auth, w):
    rows = [finding_in(w, "submitted", captured_at=T0 + timedelta(minutes=i)) for i in range(3)]
    auth.login("desk")
    html = _html(client.get("/review/"))
    batch = re.search(r'name="batch_id" value="([^"]+)"', html).group(1)
    data = {"csrf_token": csrf_from(html), "batch_id": batch, "pick": [f"{r.uuid}:1" for r in rows[:2]]}
    response = client.post("/review/bulk", data=data, follow_redirects=True)
    assert "已立案并派遣 2 条" in _html(response)
    client.post("/review/bulk", data=data)  # the same form again
    db.session.expire_all()
    assert [db.session.get(Finding, r.id).status for r in rows] == ["dispatched", "dispatched", "submitted"]
    assert [db.session.get(Finding, r.id).version for r in rows[:2]] == [2, 2]


def test_finding_page_is_scoped(client, auth, w):
    f = finding_in(w, "dispatched")
    auth.login("staff2")  # 汇金社区
    assert client.get(f"/review/findings/{f.uuid}").status_code == 404
    assert client.get(f"/review/findings/{new_uuid()}").status_code == 404
    auth.logout()
    auth.login("staff")
    html = _html(client.get(f"/review/findings/{f.uuid}"))
    assert "立案并派遣" not in html and "处理记录" in html


def test_history_with_before_and_after_side_by_side(client, auth, w):
    f = finding_in(w, "submitted", latitude=36.4561, longitude=115.9853)
    attach_before(f, upload(w.inspector, seed=3))
    workflow.apply_action(w.desk, f.uuid, new_uuid(), {"type": "accept", "party": "auto"})
    workflow.apply_action(w.staff, f.uuid, new_uuid(), {"type": "acknowledge"})
    after = upload(w.staff, seed=4)
    workflow.apply_action(w.staff, f.uuid, new_uuid(), {"type": "rectify", "note": "已清扫干净",
                                                       "photo_ids": [after.uuid]})
    auth.login("insp")
    html = _html(client.get(f"/review/findings/{f.uuid}"))
    compare = html[html.index('id="fd-compare"'):html.index('id="fd-history"')]
    assert compare.index("整改前") < compare.index("整改后")
    assert after.uuid in compare
    history = html[html.index('id="fd-history"'):]
    for label in ("发现问题", "立案", "派遣", "签收", "提交整改"):
        assert label in history
    assert "已清扫干净" in history
    assert 'id="fd-verify"' in html  # the reporting inspector may verify
    # map links: amap gets GCJ-02, the geo: URI keeps WGS-84
    glat, glon = wgs84_to_gcj02(36.4561, 115.9853)
    assert f"{glon:.6f}%2C{glat:.6f}" in html and "geo:36.456100,115.985300" in html


def test_desk_resolves_a_dispute_by_redispatching(client, auth, w):
    f = finding_in(w, "dispatched")
    workflow.apply_action(w.staff, f.uuid, new_uuid(), {"type": "dispute", "reason": "not_ours",
                                                       "note": "这是汇金社区的"})
    auth.login("desk")
    html = _html(client.get(f"/review/findings/{f.uuid}?status=disputed"))
    assert "这是汇金社区的" in html and "重新派遣" in html
    fields = _form_fields(html, "fd-dispatch")
    client.post(f"/review/findings/{f.uuid}/act", data={**fields, "party": f"community:{w.huijin.id}"})
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert f.status == "dispatched" and f.party_community_id == w.huijin.id
