"""The state machine: every (state, action) pair, permissions by role and scope, versions, idempotency."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.workflow_support import build_world, finding_in, new_uuid, upload
from webapp.extensions import db
from webapp.models import Event, Finding, Status, User
from webapp.services import workflow
from webapp.services.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.services.workflow import TRANSITIONS, Action

UTC = timezone.utc
NOW = datetime(2026, 5, 6, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai


def actor_for(world, action: Action):
    if action in (Action.acknowledge, Action.rectify, Action.dispute):
        return world.staff
    if action in (Action.verify, Action.reopen):
        return world.inspector
    return world.desk


def payload_for(world, action: Action) -> dict:
    if action is Action.reject:
        return {"type": "reject", "reason": "not_a_problem"}
    if action is Action.duplicate:
        target = finding_in(world, Status.dispatched.value)
        return {"type": "duplicate", "duplicate_of": target.uuid}
    if action is Action.rectify:
        return {"type": "rectify", "note": "已清理", "photo_ids": [upload(world.staff, seed=7).uuid]}
    if action is Action.dispute:
        return {"type": "dispute", "reason": "not_ours", "note": "属于汇金社区"}
    if action is Action.reopen:
        return {"type": "reopen", "reason": "not_fixed"}
    if action is Action.reclassify:
        return {"type": "reclassify", "category_code": "clutter"}
    return {"type": action.value}


STATES = [s.value for s in Status]


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
@pytest.mark.parametrize("state", STATES)
def test_every_state_action_pair(ctx, state, action):
    world = build_world()
    finding = finding_in(world, state)
    payload = payload_for(world, action)
    events_before = db.session.scalar(select(func.count()).select_from(Event).where(Event.finding_id == finding.id))
    version = finding.version
    allowed_from, target = TRANSITIONS[action]
    if state in allowed_from:
        result = workflow.apply_action(actor_for(world, action), finding.uuid, new_uuid(), payload, now=NOW)
        db.session.expire_all()
        finding = db.session.get(Finding, finding.id)
        assert result.created
        assert finding.status == (target or state)
        assert finding.version == version + 1
        assert result.event.from_status == state and result.event.to_status == (target or state)
        assert db.session.scalar(select(func.count()).select_from(Event)
                                 .where(Event.finding_id == finding.id)) == events_before + 1
    else:
        with pytest.raises(Conflict) as err:
            workflow.apply_action(actor_for(world, action), finding.uuid, new_uuid(), payload, now=NOW)
        assert err.value.code == "illegal_transition"
        assert err.value.extra["finding"]["status"] == state
        assert err.value.extra["finding"]["version"] == version
        db.session.expire_all()
        assert db.session.get(Finding, finding.id).status == state


def test_transition_table_covers_the_issue_flow():
    # 信息收集 → 立案 → 派遣 → 处置 → 反馈 → 核查 → 结案, plus the side exits.
    path = [Action.accept, Action.dispatch, Action.acknowledge, Action.rectify, Action.verify]
    state = Status.submitted.value
    for action in path:
        assert state in TRANSITIONS[action][0]
        state = TRANSITIONS[action][1]
    assert state == Status.verified.value
    assert TRANSITIONS[Action.reopen][1] == Status.dispatched.value
    assert Status.disputed.value in TRANSITIONS[Action.dispatch][0]
    assert Status.disputed.value in TRANSITIONS[Action.reject][0]
    assert not any(Status.ok.value in sources for sources, _ in TRANSITIONS.values())


def test_full_loop_with_one_key_accept_and_dispatch(ctx):
    world = build_world()
    f = finding_in(world, "submitted")
    result = workflow.apply_action(world.desk, f.uuid, new_uuid(), {"type": "accept", "party": "auto"}, now=NOW)
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert (f.status, f.version, f.party_kind, f.party_community_id) == ("dispatched", 2, "community",
                                                                          world.xiangjiang.id)
    assert f.accepted_at == NOW and f.dispatched_at == NOW
    # litter is same-day: 23:59:59 in Shanghai = 15:59:59 UTC
    assert f.deadline == datetime(2026, 5, 6, 15, 59, 59, tzinfo=UTC)
    assert [(e.type, e.from_status, e.to_status) for e in f.events] == [
        ("accept", "submitted", "accepted"), ("dispatch", "accepted", "dispatched")]
    assert result.event.type == "accept"

    workflow.apply_action(world.staff, f.uuid, new_uuid(), {"type": "acknowledge"}, now=NOW + timedelta(minutes=5))
    photo = upload(world.staff, seed=3)
    workflow.apply_action(world.staff, f.uuid, new_uuid(),
                          {"type": "rectify", "note": "已清扫", "photo_ids": [photo.uuid]}, now=NOW + timedelta(hours=1))
    workflow.apply_action(world.inspector, f.uuid, new_uuid(), {"type": "verify"}, now=NOW + timedelta(hours=2))
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert f.status == "verified" and f.version == 5 and f.overdue_at is None
    rectify = [e for e in f.events if e.type == "rectify"][0]
    assert [p.uuid for p in rectify.photos] == [photo.uuid]
    assert db.session.get(type(photo), photo.id).kind == "after"


def test_market_finding_routes_to_the_market_manager(ctx):
    world = build_world()
    f = finding_in(world, "accepted", market=True)
    workflow.apply_action(world.desk, f.uuid, new_uuid(), {"type": "dispatch"}, now=NOW)
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert (f.party_kind, f.party_site_id, f.party_community_id) == ("market", world.market.id, None)
    # community staff of the same community see it, but it is not theirs to act on
    with pytest.raises(Forbidden):
        workflow.apply_action(world.staff, f.uuid, new_uuid(), {"type": "acknowledge"}, now=NOW)
    with pytest.raises(NotFound):
        workflow.apply_action(world.other_manager, f.uuid, new_uuid(), {"type": "acknowledge"}, now=NOW)
    workflow.apply_action(world.manager, f.uuid, new_uuid(), {"type": "acknowledge"}, now=NOW)


def test_market_without_a_manager_falls_back_to_the_community(ctx):
    world = build_world()
    world.manager.sites = []
    db.session.commit()
    f = finding_in(world, "accepted", market=True)
    workflow.apply_action(world.desk, f.uuid, new_uuid(), {"type": "dispatch"}, now=NOW)
    db.session.expire_all()
    assert db.session.get(Finding, f.id).party_kind == "community"


def test_explicit_party_and_redispatch_after_dispute(ctx):
    world = build_world()
    f = finding_in(world, "dispatched")
    workflow.apply_action(world.staff, f.uuid, new_uuid(), {"type": "dispute", "reason": "not_ours"}, now=NOW)
    later = NOW + timedelta(days=1)
    workflow.apply_action(world.desk, f.uuid, new_uuid(),
                          {"type": "dispatch", "party": {"kind": "community", "id": world.huijin.id}}, now=later)
    db.session.expire_all()
    f = db.session.get(Finding, f.id)
    assert f.status == "dispatched" and f.party_community_id == world.huijin.id
    assert f.deadline == datetime(2026, 5, 7, 15, 59, 59, tzinfo=UTC)  # restarted from the re-dispatch
    assert f.acknowledged_at is None
    workflow.apply_action(world.other_staff, f.uuid, new_uuid(), {"type": "acknowledge"}, now=later)


# --- permissions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("who,action,market,expected", [
    ("staff", "accept", False, Forbidden),  # role never may
    ("manager", "reject", True, Forbidden),
    ("inspector", "dispatch", False, Forbidden),
    ("leader", "verify", False, Forbidden),  # read-only role
    ("other_staff", "acknowledge", False, NotFound),  # another community: not even visible
    ("other_manager", "acknowledge", True, NotFound),  # another market
    ("manager", "acknowledge", False, NotFound),  # a lane in the market's community
    ("staff", "acknowledge", True, Forbidden),  # visible (their community) but the market's task
    ("other_inspector", "verify", False, NotFound),  # someone else's report
    ("admin", "acknowledge", False, Forbidden),  # the desk does not act for the party
])
def test_outside_role_or_scope_is_refused(ctx, who, action, market, expected):
    world = build_world()
    status = "rectified" if action == "verify" else "submitted" if action in ("accept", "reject") else \
        "accepted" if action == "dispatch" else "dispatched"
    f = finding_in(world, status, market=market)
    payload = {"type": action, **({"reason": "not_a_problem"} if action == "reject" else {})}
    with pytest.raises(expected):
        workflow.apply_action(getattr(world, who), f.uuid, new_uuid(), payload, now=NOW)
    db.session.expire_all()
    assert db.session.get(Finding, f.id).version == 1


def test_unknown_finding_is_not_found(ctx):
    world = build_world()
    with pytest.raises(NotFound):
        workflow.apply_action(world.desk, new_uuid(), new_uuid(), {"type": "accept"}, now=NOW)


@pytest.mark.parametrize("payload,field", [
    ({"type": "explode"}, "type"),
    ({"type": "reject"}, "reason"),
    ({"type": "reject", "reason": "other"}, "note"),
    ({"type": "duplicate"}, "duplicate_of"),
    ({"type": "rectify", "note": "x"}, "photo_ids"),
    ({"type": "rectify", "photo_ids": ["not-a-uuid"], "note": "x"}, "photo_ids"),
    ({"type": "accept", "party": {"kind": "moon", "id": 1}}, "party"),
    ({"type": "accept", "expected_version": 0}, "expected_version"),
    ({"type": "accept", "captured_at": "2099-01-01T00:00:00+08:00"}, "captured_at"),
    ({"type": "accept", "bogus": 1}, "bogus"),
    ({"type": "acknowledge", "location": {"lat": 300, "lon": 1}}, "location"),
])
def test_invalid_payloads_are_422_with_the_field(ctx, payload, field):
    world = build_world()
    f = finding_in(world, "submitted")
    with pytest.raises(Invalid) as err:
        workflow.apply_action(world.desk, f.uuid, new_uuid(), payload, now=NOW)
    assert field in err.value.fields


def test_rectify_refuses_photos_not_uploaded_or_not_owned(ctx):
    world = build_world()
    f = finding_in(world, "acknowledged")
    missing = new_uuid()
    with pytest.raises(Invalid) as err:
        workflow.apply_action(world.staff, f.uuid, new_uuid(),
                              {"type": "rectify", "note": "好了", "photo_ids": [missing]}, now=NOW)
    assert err.value.extra["missing"] == [missing]
    someone_elses = upload(world.inspector, seed=5)
    with pytest.raises(Invalid):
        workflow.apply_action(world.staff, f.uuid, new_uuid(),
                              {"type": "rectify", "note": "好了", "photo_ids": [someone_elses.uuid]}, now=NOW)


# --- idempotency and versions -----------------------------------------------------------------------

def test_identical_repeat_returns_the_stored_action(ctx):
    world = build_world()
    f = finding_in(world, "dispatched")
    action_uuid = new_uuid()
    first = workflow.apply_action(world.staff, f.uuid, action_uuid, {"type": "acknowledge", "note": "收到"}, now=NOW)
    again = workflow.apply_action(world.staff, f.uuid, action_uuid, {"type": "acknowledge", "note": "收到"},
                                  now=NOW + timedelta(minutes=3))
    assert first.created and not again.created
    assert again.event.id == first.event.id
    db.session.expire_all()
    assert db.session.get(Finding, f.id).version == 2
    with pytest.raises(Conflict) as err:
        workflow.apply_action(world.staff, f.uuid, action_uuid, {"type": "acknowledge", "note": "不同"}, now=NOW)
    assert err.value.code == "action_conflict"
    other = finding_in(world, "dispatched")
    with pytest.raises(Conflict):
        workflow.apply_action(world.staff, other.uuid, action_uuid, {"type": "acknowledge", "note": "收到"}, now=NOW)


def test_expected_version_must_match(ctx):
    world = build_world()
    f = finding_in(world, "submitted")
    with pytest.raises(Conflict) as err:
        workflow.apply_action(world.desk, f.uuid, new_uuid(), {"type": "accept", "expected_version": 7}, now=NOW)
    assert err.value.code == "stale_version" and err.value.extra["finding"]["version"] == 1
    workflow.apply_action(world.desk, f.uuid, new_uuid(), {"type": "accept", "expected_version": 1}, now=NOW)


def test_guarded_update_refuses_a_stale_read(app, ctx):
    """The UPDATE … WHERE version = :loaded itself, independent of expected_version: a second
    session that loaded the finding before the first committed cannot overwrite it."""
    world = build_world()
    f = finding_in(world, "dispatched")
    finding_uuid, finding_id, staff_id = f.uuid, f.id, world.staff.id
    db.session.commit()
    db.session.remove()

    from sqlalchemy.orm import Session

    with Session(db.engine) as stale:
        loaded_version = stale.get(Finding, finding_id).version  # read in a session of its own
        assert loaded_version == 1
        stale.commit()  # release SQLite's lock; the object keeps its loaded values
        staff = db.session.get(User, staff_id)
        workflow.apply_action(staff, finding_uuid, new_uuid(), {"type": "acknowledge"}, now=NOW)
        from sqlalchemy import update
        result = stale.execute(update(Finding).where(Finding.id == finding_id, Finding.version == loaded_version)
                               .values(status="disputed", version=loaded_version + 1))
        assert result.rowcount == 0
        stale.rollback()
    db.session.expire_all()
    assert db.session.get(Finding, finding_id).status == "acknowledged"
