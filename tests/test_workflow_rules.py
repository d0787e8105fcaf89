"""Deadlines (Asia/Shanghai, across midnight and days), overdue marking, after-photo integrity flags,
duplicates gaining evidence, and the desk's reclassification."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from tests.workflow_support import attach_before, build_world, finding_in, jpeg, new_uuid, upload
from webapp.extensions import db
from webapp.models import Category, Finding, Photo
from webapp.services import workflow
from webapp.services.errors import Invalid
from webapp.services.workflow import compute_deadline

UTC = timezone.utc
SH = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)


def rule(unit: str, value: int = 0) -> Category:
    return Category(code="x", name_zh="x", name_en="x", family="x", deadline_unit=unit, deadline_value=value)


@pytest.mark.parametrize("category,dispatched,deadline", [
    # 一日一清: the end of the LOCAL day; 00:30 in Shanghai is still the previous day in UTC.
    (rule("same_day"), local(2026, 5, 6, 0, 30), local(2026, 5, 6, 23, 59, 59)),
    (rule("same_day"), local(2026, 5, 6, 7, 59), local(2026, 5, 6, 23, 59, 59)),
    (rule("same_day"), local(2026, 5, 6, 8, 1), local(2026, 5, 6, 23, 59, 59)),
    (rule("same_day"), local(2026, 5, 6, 23, 50), local(2026, 5, 6, 23, 59, 59)),
    (None, local(2026, 5, 6, 10, 0), local(2026, 5, 6, 23, 59, 59)),
    # hours: exact, crossing local midnight
    (rule("hours", 4), local(2026, 5, 6, 22, 0), local(2026, 5, 7, 2, 0)),
    (rule("hours", 48), local(2026, 5, 6, 9, 15), local(2026, 5, 8, 9, 15)),
    (rule("hours", 0), local(2026, 5, 6, 9, 15), local(2026, 5, 6, 10, 15)),  # never a deadline in the past
    # days: end of the local day N days on, across a month end
    (rule("days", 2), local(2026, 5, 6, 23, 30), local(2026, 5, 8, 23, 59, 59)),
    (rule("days", 2), local(2026, 5, 6, 0, 10), local(2026, 5, 8, 23, 59, 59)),
    (rule("days", 7), local(2026, 5, 28, 10, 0), local(2026, 6, 4, 23, 59, 59)),
])
def test_deadline_rules(app, category, dispatched, deadline):
    with app.app_context():
        assert compute_deadline(category, dispatched) == deadline
        assert compute_deadline(category, dispatched).tzinfo is not None


def test_dispatch_uses_the_category_rule(ctx):
    world = build_world()
    f = finding_in(world, "accepted", category_code="illegal_structure")  # 乱搭乱建: 7 days
    workflow.apply_action(world.desk, f.uuid, new_uuid(), {"type": "dispatch"}, now=local(2026, 5, 6, 23, 30))
    db.session.expire_all()
    assert db.session.get(Finding, f.id).deadline == local(2026, 5, 13, 23, 59, 59)


# --- overdue ---------------------------------------------------------------------------------------

def test_mark_overdue_stamps_open_findings_past_deadline_only(ctx):
    world = build_world()
    deadline = local(2026, 5, 6, 23, 59, 59)
    late = finding_in(world, "dispatched", deadline=deadline)
    late_ack = finding_in(world, "acknowledged", deadline=deadline)
    on_time = finding_in(world, "dispatched", deadline=deadline + timedelta(days=1))
    fixed = finding_in(world, "rectified", deadline=deadline)
    disputed = finding_in(world, "disputed", deadline=deadline)  # the clock is with the desk
    now = local(2026, 5, 7, 0, 5)
    assert workflow.mark_overdue(now) == 2
    db.session.expire_all()
    got = {f.id: db.session.get(Finding, f.id) for f in (late, late_ack, on_time, fixed, disputed)}
    assert got[late.id].overdue_at == deadline and got[late_ack.id].overdue_at == deadline
    assert got[on_time.id].overdue_at is None and got[fixed.id].overdue_at is None
    assert got[disputed.id].overdue_at is None
    assert got[late.id].version == 1  # not a transition: a phone's expected_version stays valid
    assert workflow.mark_overdue(now + timedelta(hours=1)) == 0


def test_late_rectification_is_overdue_and_stays_so_after_verification(ctx):
    world = build_world()
    deadline = local(2026, 5, 6, 23, 59, 59)
    f = finding_in(world, "acknowledged", deadline=deadline)
    photo = upload(world.staff, seed=11)
    workflow.apply_action(world.staff, f.uuid, new_uuid(), {"type": "rectify", "note": "已拆除", "photo_ids":
                                                           [photo.uuid]}, now=local(2026, 5, 7, 8, 0))
    workflow.apply_action(world.inspector, f.uuid, new_uuid(), {"type": "verify"}, now=local(2026, 5, 7, 9, 0))
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert f.status == "verified" and f.overdue_at == deadline
    assert workflow.is_overdue(f)


def test_on_time_rectification_is_not_overdue(ctx):
    world = build_world()
    f = finding_in(world, "dispatched", deadline=local(2026, 5, 6, 23, 59, 59))
    photo = upload(world.staff, seed=12)
    workflow.apply_action(world.staff, f.uuid, new_uuid(), {"type": "rectify", "note": "已清理", "photo_ids":
                                                           [photo.uuid]}, now=local(2026, 5, 6, 18, 0))
    assert workflow.mark_overdue(local(2026, 5, 8, 0, 0)) == 0
    db.session.expire_all()
    assert db.session.get(Finding, f.id).overdue_at is None


def test_reopen_restarts_the_deadline_but_keeps_the_overdue_mark(ctx):
    world = build_world()
    first_deadline = local(2026, 5, 6, 23, 59, 59)
    f = finding_in(world, "rectified", deadline=first_deadline)
    f.overdue_at = first_deadline
    db.session.commit()
    workflow.apply_action(world.inspector, f.uuid, new_uuid(), {"type": "reopen", "reason": "not_fixed",
                                                               "note": "门口仍有杂物"}, now=local(2026, 5, 7, 10, 0))
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert f.status == "dispatched" and f.deadline == local(2026, 5, 7, 23, 59, 59)
    assert f.overdue_at == first_deadline and f.rectified_at is None and f.acknowledged_at is None
    assert f.party_community_id == world.xiangjiang.id


def test_mark_overdue_cli(app, ctx):
    world = build_world()
    finding_in(world, "dispatched", deadline=datetime(2020, 1, 1, tzinfo=UTC))
    result = app.test_cli_runner().invoke(args=["mark-overdue"])
    assert result.exit_code == 0, result.output
    assert "marked 1" in result.output


# --- verification integrity ------------------------------------------------------------------------

def _reencode(data: bytes, quality: int = 60, scale: float = 0.9) -> bytes:
    img = Image.open(io.BytesIO(data))
    img = img.resize((int(img.width * scale), int(img.height * scale)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _rectify(world, f, photos, **extra):
    return workflow.apply_action(world.staff, f.uuid, new_uuid(), {
        "type": "rectify", "note": "已整改", "photo_ids": [p.uuid for p in photos], **extra},
        now=f.dispatched_at + timedelta(hours=1))


def test_reused_before_photo_is_flagged_by_perceptual_hash(ctx):
    world = build_world()
    f = finding_in(world, "acknowledged")
    before_bytes = jpeg(seed=21)
    attach_before(f, upload(world.inspector, before_bytes))
    reused = upload(world.staff, _reencode(before_bytes))  # same scene, re-encoded and resized
    fresh = upload(world.staff, jpeg(seed=99))  # a different picture
    result = _rectify(world, f, [reused, fresh])
    flags = result.event.data["flags"]
    assert [(fl["code"], fl["photo"]) for fl in flags] == [("phash_match", reused.uuid)]
    assert flags[0]["distance"] <= 6


def test_identical_file_is_flagged_and_a_different_photo_is_not(ctx):
    world = build_world()
    f = finding_in(world, "acknowledged")
    before_bytes = jpeg(seed=31)
    attach_before(f, upload(world.inspector, before_bytes))
    same = upload(world.staff, before_bytes)
    assert [fl["code"] for fl in _rectify(world, f, [same]).event.data["flags"]] == ["same_photo"]

    g = finding_in(world, "acknowledged")
    attach_before(g, upload(world.inspector, jpeg(seed=32)))
    result = _rectify(world, g, [upload(world.staff, jpeg(seed=77))])
    assert not (result.event.data or {}).get("flags")


def test_photo_taken_before_dispatch_is_flagged_and_distance_recorded(ctx):
    world = build_world()
    f = finding_in(world, "dispatched", latitude=36.4561, longitude=115.9853)
    old = upload(world.staff, seed=41)
    old.taken_at = f.dispatched_at - timedelta(days=2)  # from the gallery, taken before the problem was sent
    db.session.commit()
    result = _rectify(world, f, [old], location={"lat": 36.4570, "lon": 115.9853, "accuracy_m": 12})
    data = result.event.data
    assert [fl["code"] for fl in data["flags"]] == ["taken_before_dispatch"]
    assert 95 <= data["distance_m"] <= 105  # 0.0009° of latitude ≈ 100 m


def test_duplicate_gives_its_photos_to_the_kept_finding_as_evidence(ctx):
    world = build_world()
    kept = finding_in(world, "dispatched")
    dup = finding_in(world, "submitted")
    attach_before(dup, upload(world.inspector, seed=51))
    workflow.apply_action(world.desk, dup.uuid, new_uuid(), {"type": "duplicate", "duplicate_of": kept.uuid})
    db.session.expire_all()
    kept, dup = db.session.get(Finding, kept.id), db.session.get(Finding, dup.id)
    assert dup.status == "duplicate" and dup.duplicate_of_id == kept.id
    evidence = [p for p in kept.photos if p.kind == "evidence"]
    assert len(evidence) == 1 and evidence[0].sha256 == dup.photos[0].sha256
    assert evidence[0].uuid != dup.photos[0].uuid and dup.photos[0].kind == "before"
    assert [e.type for e in kept.events] == ["evidence"] and kept.version == 1


def test_duplicate_of_a_rejected_finding_or_itself_is_refused(ctx):
    world = build_world()
    rejected = finding_in(world, "rejected")
    dup = finding_in(world, "submitted")
    for target in (rejected.uuid, dup.uuid, new_uuid()):
        with pytest.raises(Invalid):
            workflow.apply_action(world.desk, dup.uuid, new_uuid(), {"type": "duplicate", "duplicate_of": target})


def test_reclassify_changes_category_and_community(ctx):
    world = build_world()
    f = finding_in(world, "submitted")  # at 香江背街 in 香江社区
    workflow.apply_action(world.desk, f.uuid, new_uuid(),
                          {"type": "reclassify", "category_code": "flyposting", "community_id": world.huijin.id})
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert f.category.code == "flyposting" and f.community_id == world.huijin.id
    assert f.site_id is None  # the lane belongs to the old community
    assert f.status == "submitted" and f.version == 2
    assert f.events[-1].data["before"]["community_id"] == world.xiangjiang.id


def test_after_photo_attached_to_the_rectify_event(ctx):
    world = build_world()
    f = finding_in(world, "acknowledged")
    photos = [upload(world.staff, seed=61), upload(world.staff, seed=62)]
    result = _rectify(world, f, photos)
    db.session.expire_all()
    rows = db.session.query(Photo).filter(Photo.event_id == result.event.id).order_by(Photo.position).all()
    assert [p.uuid for p in rows] == [p.uuid for p in photos]
    assert all(p.kind == "after" and p.finding_id == f.id and p.marked_sha256 for p in rows)


# --- payload parsing never crashes ------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
FIELDS = ("type", "note", "reason", "duplicate_of", "party", "photo_ids", "expected_version", "captured_at",
          "location", "category_code", "community_id", "site_id")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6),
       action=st.sampled_from([a.value for a in workflow.Action]))
def test_any_json_payload_is_parsed_or_refused_with_422(app, payload, action):
    """Whatever a phone or a script sends, the answer is a request or a per-field 422, never a 500."""
    with app.test_request_context():
        try:
            request = workflow.parse_action({"type": action, **payload}, now=datetime(2026, 5, 6, tzinfo=UTC))
        except Invalid as err:
            assert err.fields and all(isinstance(v, str) for v in err.fields.values())
        else:
            assert request.payload_hash and request.type.value == payload.get("type", action)
