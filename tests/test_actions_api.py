"""PUT /api/v1/findings/{uuid}/actions/{action_uuid}: every status code, checked against the OpenAPI
document by the ``api`` client, and GET /api/v1/findings/{uuid} showing the workflow state."""
from __future__ import annotations

import pytest

from tests.api_support import digest, jpeg, token_client
from tests.workflow_support import build_world, finding_in, new_uuid
from webapp.extensions import db
from webapp.models import Finding


@pytest.fixture
def w(app):
    with app.app_context():
        world = build_world()
        ids = {
            "submitted": finding_in(world, "submitted").uuid,
            "dispatched": finding_in(world, "dispatched").uuid,
            "market": finding_in(world, "dispatched", market=True).uuid,
            "huijin": finding_in(world, "dispatched", site=world.other_market).uuid,
            "xiangjiang": world.xiangjiang.id,
        }
        db.session.remove()
    return ids


def url(finding_uuid: str, action_uuid: str | None = None) -> str:
    return f"/api/v1/findings/{finding_uuid}/actions/{action_uuid or new_uuid()}"


def test_created_then_identical_repeat_then_different_content(app, w, openapi_checker):
    desk = token_client(app, openapi_checker, "desk")
    action = url(w["submitted"])
    body = {"type": "accept", "party": "auto", "expected_version": 1}
    first = desk.put_json(action, body)
    assert first.status_code == 201
    data = first.get_json()
    assert data["status"] == "dispatched" and data["version"] == 2
    assert data["party"]["kind"] == "community"
    assert data["party"]["community_id"] == w["xiangjiang"]
    assert data["deadline"].endswith("Z")
    assert [e["type"] for e in data["events"]] == ["accept", "dispatch"]
    assert data["event"]["type"] == "accept"

    again = desk.put_json(action, body)
    assert again.status_code == 200 and again.get_json()["version"] == 2

    changed = desk.put_json(action, {**body, "note": "不同的内容"})
    assert changed.status_code == 409
    error = changed.get_json()["error"]
    assert error["code"] == "action_conflict" and error["finding"]["status"] == "dispatched"


def test_illegal_and_stale_are_409_with_the_current_state(app, w, openapi_checker):
    staff = token_client(app, openapi_checker, "staff")
    illegal = staff.put_json(url(w["dispatched"]), {"type": "rectify", "note": "x", "photo_ids": [new_uuid()]})
    assert illegal.status_code in (409, 422)
    verify = token_client(app, openapi_checker, "desk").put_json(url(w["dispatched"]), {"type": "verify"})
    assert verify.status_code == 409
    err = verify.get_json()["error"]
    assert err["code"] == "illegal_transition"
    assert (err["finding"]["status"], err["finding"]["version"]) == ("dispatched", 1)
    assert "已派遣" in err["message"] or "dispatched" in err["message"]

    stale = staff.put_json(url(w["dispatched"]), {"type": "acknowledge", "expected_version": 5})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"


def test_role_and_scope(app, w, openapi_checker):
    staff = token_client(app, openapi_checker, "staff")
    assert staff.put_json(url(w["submitted"]), {"type": "accept"}).status_code == 403  # role
    assert staff.put_json(url(w["market"]), {"type": "acknowledge"}).status_code == 403  # visible, not theirs
    assert staff.put_json(url(w["huijin"]), {"type": "acknowledge"}).status_code == 404  # another community
    assert staff.put_json(url(new_uuid()), {"type": "acknowledge"}).status_code == 404
    manager = token_client(app, openapi_checker, "mgr")
    assert manager.put_json(url(w["dispatched"]), {"type": "acknowledge"}).status_code == 404  # not the market
    assert manager.put_json(url(w["market"]), {"type": "acknowledge"}).status_code == 201
    leader = token_client(app, openapi_checker, "leader")
    assert leader.put_json(url(w["dispatched"]), {"type": "verify"}).status_code == 403


def test_invalid_payloads(app, w, openapi_checker):
    desk = token_client(app, openapi_checker, "desk")
    bad = desk.put_json(url(w["submitted"]), {"type": "reject"})
    assert bad.status_code == 422 and "reason" in bad.get_json()["error"]["fields"]
    assert desk.put_json(url(w["submitted"]), {"type": "launch"}).status_code == 422
    assert desk.put_json(url(w["submitted"], "not-a-uuid"), {"type": "accept"}).status_code == 422
    assert desk.request("PUT", url(w["submitted"]), data="{oops", content_type="application/json").status_code == 400
    assert desk.put_json(url(w["submitted"]), ["accept"]).status_code == 400


def test_unauthenticated_and_csrf(app, w, api):
    # no session: CSRF is checked first for cookie requests; a bad token is plainly unauthenticated
    assert api.put_json(url(w["submitted"]), {"type": "accept"},
                        headers={"Authorization": "Bearer xc_nope"}).status_code == 401
    api.login("desk")
    api.csrf = None  # a browser call without the header
    assert api.put_json(url(w["submitted"]), {"type": "accept"}).status_code == 400


def test_party_rectifies_through_the_api_with_an_uploaded_photo(app, w, api):
    api.login("staff")  # session cookie + X-CSRFToken, as the PWA does
    assert api.put_json(url(w["dispatched"]), {"type": "acknowledge", "expected_version": 1}).status_code == 201
    photo_uuid = new_uuid()
    data = jpeg()
    assert api.put_photo(photo_uuid, data).status_code == 201
    missing = new_uuid()
    refused = api.put_json(url(w["dispatched"]), {"type": "rectify", "note": "已清理",
                                                  "photo_ids": [photo_uuid, missing]})
    assert refused.status_code == 422 and missing in refused.get_json()["error"]["fields"]["photo_ids"]
    done = api.put_json(url(w["dispatched"]), {
        "type": "rectify", "note": "已清理", "photo_ids": [photo_uuid], "expected_version": 2,
        "captured_at": "2026-05-06T15:00:00+08:00", "location": {"lat": 36.45, "lon": 115.98, "accuracy_m": 8}})
    assert done.status_code == 201, done.get_json()
    event = done.get_json()["event"]
    assert event["photo_ids"] == [photo_uuid] and event["data"]["captured_at"].startswith("2026-05-06T07:00")

    detail = api.get(f"/api/v1/findings/{w['dispatched']}")
    assert detail.status_code == 200
    body = detail.get_json()
    assert (body["status"], body["version"]) == ("rectified", 3)
    assert body["party"]["name"] == "香江社区" and body["deadline"]
    assert [e["type"] for e in body["events"]] == ["acknowledge", "rectify"]
    assert [p["kind"] for p in body["photos"]] == ["after"]


def test_inspector_verifies_own_report_only(app, w, openapi_checker):
    with app.app_context():
        f = db.session.scalar(db.select(Finding).where(Finding.uuid == w["dispatched"]))
        f.status = "rectified"
        db.session.commit()
    assert token_client(app, openapi_checker, "insp2").put_json(url(w["dispatched"]), {"type": "verify"}) \
        .status_code == 404
    reopen = token_client(app, openapi_checker, "insp").put_json(
        url(w["dispatched"]), {"type": "reopen", "reason": "not_fixed", "note": "垃圾仍在"})
    assert reopen.status_code == 201
    assert reopen.get_json()["status"] == "dispatched"
    assert reopen.get_json()["event"]["reason"] == "not_fixed"


def test_digest_helper_is_the_api_one():
    # The upload test above relies on api_support's digest; keep it RFC 9530 shaped.
    assert digest(b"x").startswith("sha-256=:")
