"""Property-based tests (hypothesis) of the two payload validators and of the workflow state machine.

The validators must answer any JSON a phone (or an attacker) can send with either a canonical value
or a ServiceError: never another exception, which would be a 500. The state machine must never reach
a state the transition table does not allow, whatever actions anyone sends in whatever order, and a
finding's version only ever goes up, by one per applied action.
"""
from __future__ import annotations

import math
import uuid as uuidlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.factories import make_finding
from tests.workflow_support import build_world, upload
from webapp.extensions import db
from webapp.models import Event, Finding, Status
from webapp.services import workflow
from webapp.services.errors import ServiceError
from webapp.services.findings import MAX_AGE, NOTE_MAX, parse_payload, payload_hash
from webapp.services.workflow import TRANSITIONS, Action

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)
# No example database: it would be a directory in the shared working tree; failures print their example.
FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                      deadline=None, database=None)

json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**31 - 2, max_value=2**80)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
uuids = st.uuids().map(str)
uuid_like = uuids | uuids.map(str.upper) | uuids.map(lambda u: "{" + u + "}") | uuids.map(lambda u: u.replace("-", "")) \
    | st.text(max_size=40) | json_values


def instants(low: timedelta = -MAX_AGE * 2, high: timedelta = timedelta(days=400)):
    offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    moments = st.timedeltas(min_value=low, max_value=high).map(lambda d: NOW + d)
    return st.builds(lambda at, tz: at.astimezone(tz).isoformat(), moments, offsets)


locations = st.fixed_dictionaries(
    {"lat": st.floats(-100, 100) | json_values, "lon": st.floats(-200, 200) | json_values},
    optional={"accuracy_m": st.floats(-10, 2e6) | json_values},
) | json_values

finding_fields = {
    "kind": st.sampled_from(["problem", "ok"]) | json_values,
    "captured_at": instants() | st.text(max_size=40) | json_values,
    "community_id": st.integers(min_value=-3, max_value=2**70) | json_values,
    "site_id": st.none() | st.integers(min_value=-3, max_value=2**70) | json_values,
    "zone_id": st.none() | st.integers(min_value=-3, max_value=2**40) | json_values,
    "category_code": st.sampled_from(["litter", "clutter", ""]) | st.text(max_size=50) | json_values,
    "note": st.text(max_size=60) | st.text(min_size=NOTE_MAX - 2, max_size=NOTE_MAX + 2, alphabet="垃圾x")
    | json_values,
    "location": st.none() | locations,
    "photo_ids": st.lists(uuid_like, max_size=11) | json_values,
}
finding_payloads = st.fixed_dictionaries({}, optional=finding_fields) | st.dictionaries(
    st.sampled_from(sorted(finding_fields) + ["status", "inspector_id", ""]), json_values, max_size=5) | json_values


def check_canonical(out: dict) -> None:
    """What every accepted payload looks like after the validator."""
    assert out["kind"] in ("problem", "ok")
    at = out["captured_at"]
    assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
    assert NOW - MAX_AGE <= at <= NOW + timedelta(minutes=10)
    assert isinstance(out["captured_offset_min"], int) and abs(out["captured_offset_min"]) <= 24 * 60
    assert isinstance(out["community_id"], int) and not isinstance(out["community_id"], bool)
    assert 0 < out["community_id"] < 2**31
    for name in ("site_id", "zone_id"):
        assert out[name] is None or (type(out[name]) is int and 0 < out[name] < 2**31)
    assert out["zone_id"] is None or out["site_id"] is not None
    assert isinstance(out["note"], str) and len(out["note"]) <= NOTE_MAX
    out["note"].encode("utf-8")  # storable: no lone surrogates
    assert "\x00" not in out["note"]
    if out["kind"] == "problem":
        assert out["category_code"] and out["photo_ids"]
    ids = out["photo_ids"]
    assert len(ids) == len(set(ids)) <= 9
    assert all(str(uuidlib.UUID(p)) == p for p in ids)
    if out["location"] is not None:
        loc = out["location"]
        assert -90 <= loc["lat"] <= 90 and -180 <= loc["lon"] <= 180
        assert all(v is None or math.isfinite(v) for v in loc.values())
        assert loc["accuracy_m"] is None or loc["accuracy_m"] >= 0


@pytest.mark.slow
@settings(FIXTURE_OK, max_examples=600)
@given(payload=finding_payloads)
def test_finding_validator_answers_anything_with_a_value_or_a_service_error(ctx, payload):
    try:
        out = parse_payload(payload, NOW)
    except ServiceError as err:
        assert 400 <= err.status < 500
        return
    check_canonical(out)
    # The canonical form is a fixed point: sending it back is "the same" finding (a resend, not a 409).
    offset = timezone(timedelta(minutes=out["captured_offset_min"]))
    again = parse_payload({**{k: v for k, v in out.items() if k != "captured_offset_min"},
                           "captured_at": out["captured_at"].astimezone(offset).isoformat()}, NOW)
    assert payload_hash(again) == payload_hash(out)


valid_findings = st.fixed_dictionaries({
    "kind": st.just("problem"),
    "captured_at": instants(low=-MAX_AGE + timedelta(minutes=1), high=timedelta(minutes=9)),
    "community_id": st.integers(1, 2**31 - 1),
    "category_code": st.sampled_from(["litter", "clutter", "bin_overflow"]),
    "photo_ids": st.lists(uuids, min_size=1, max_size=9, unique=True),
}, optional={
    "note": st.text(max_size=200).filter(lambda s: s.isprintable()),
    "location": st.fixed_dictionaries({"lat": st.floats(-90, 90), "lon": st.floats(-180, 180)},
                                      optional={"accuracy_m": st.floats(0, 1e6)}),
    "site_id": st.integers(1, 2**31 - 1),
})


@settings(FIXTURE_OK, max_examples=200)
@given(payload=valid_findings)
def test_every_well_formed_finding_is_accepted(ctx, payload):
    check_canonical(parse_payload(payload, NOW))


action_fields = {
    "type": st.sampled_from([a.value for a in Action]) | json_values,
    "note": st.text(max_size=40) | st.text(min_size=1999, max_size=2001, alphabet="清x") | json_values,
    "reason": st.sampled_from(["unclear", "not_ours", "not_fixed", "other", ""]) | json_values,
    "duplicate_of": uuid_like,
    "party": st.just("auto") | st.fixed_dictionaries({"kind": st.sampled_from(["community", "market", "x"]),
                                                      "id": st.integers(-2, 2**70) | json_values}) | json_values,
    "photo_ids": st.lists(uuid_like, max_size=11) | json_values,
    "expected_version": st.integers(-2, 2**70) | st.integers(0, 2**70).map(str) | json_values,
    "captured_at": instants() | st.text(max_size=30) | json_values,
    "location": st.none() | locations,
    "category_code": st.sampled_from(["clutter", ""]) | json_values,
    "community_id": st.integers(-2, 2**70) | json_values,
    "site_id": st.none() | st.integers(-2, 2**70) | json_values,
}
# Mostly-valid actions too, or the interesting fields would rarely be looked at behind an early error.
plain_actions = st.fixed_dictionaries(
    {"type": st.sampled_from(["verify", "acknowledge", "accept"])},
    optional={"location": locations, "captured_at": action_fields["captured_at"],
              "expected_version": action_fields["expected_version"], "note": action_fields["note"]})
action_payloads = plain_actions | st.fixed_dictionaries({}, optional=action_fields) | json_values


@pytest.mark.slow
@settings(FIXTURE_OK, max_examples=600)
@given(payload=action_payloads)
def test_action_validator_answers_anything_with_a_value_or_a_service_error(ctx, payload):
    try:
        req = workflow.parse_action(payload, now=NOW)
    except ServiceError as err:
        assert 400 <= err.status < 500
        return
    assert isinstance(req.type, Action)
    assert isinstance(req.note, str) and len(req.note) <= 2000
    assert len(req.photo_ids) <= 9 and all(str(uuidlib.UUID(p)) == p for p in req.photo_ids)
    assert req.photo_ids == [] or req.type is Action.rectify
    for value in (req.expected_version, req.community_id, req.site_id):
        assert value is None or (type(value) is int and -2**31 < value < 2**31)
    if req.party not in (None, "auto"):
        assert -2**31 < req.party["id"] < 2**31
    if req.duplicate_of is not None:
        assert str(uuidlib.UUID(req.duplicate_of)) == req.duplicate_of
    if req.captured_at is not None:
        assert req.captured_at.utcoffset() == timedelta(0) and req.captured_at <= NOW + timedelta(minutes=10)
    if req.location is not None:
        assert -90 <= req.location["lat"] <= 90 and -180 <= req.location["lon"] <= 180
        acc = req.location.get("accuracy_m")
        assert acc is None or (math.isfinite(acc) and acc >= 0), req.location
    assert len(req.payload_hash) == 64


# --- the state machine ------------------------------------------------------------------------------

ACTORS = ("desk", "inspector", "other_inspector", "staff", "other_staff", "manager", "leader")


def valid_payload(action: Action, world, actor, target: Finding) -> dict:
    """A payload that is valid for ``action`` in itself, so only state and permission decide."""
    body: dict = {"type": action.value}
    if action is Action.reject:
        body["reason"] = "unclear"
    elif action is Action.dispute:
        body["reason"] = "not_ours"
    elif action is Action.reopen:
        body["reason"] = "not_fixed"
    elif action is Action.duplicate:
        body["duplicate_of"] = target.uuid
    elif action in (Action.accept, Action.dispatch):
        body["party"] = "auto"
    elif action is Action.rectify:
        body["note"] = "已清理"
        body["photo_ids"] = [upload(actor, size=(48, 32), seed=7).uuid]
    elif action is Action.reclassify:
        body["category_code"] = "clutter"
    return body


def check_state(finding: Finding) -> None:
    """What must hold of a finding in each state, whatever led there."""
    status = finding.status
    assert status in {s.value for s in Status}
    if status in (Status.dispatched.value, Status.acknowledged.value, Status.rectified.value,
                  Status.verified.value, Status.disputed.value):
        assert finding.party_kind in ("community", "market") and finding.dispatched_at is not None
        assert finding.deadline is not None
        assert (finding.party_site_id is not None) == (finding.party_kind == "market")
    if status in (Status.rectified.value, Status.verified.value):
        assert finding.rectified_at is not None and finding.acknowledged_at is not None
    if status == Status.verified.value:
        assert finding.verified_at is not None
    if status == Status.duplicate.value:
        assert finding.duplicate_of_id is not None and finding.duplicate_of_id != finding.id
    if status != Status.submitted.value and status not in (Status.rejected.value, Status.duplicate.value):
        assert finding.accepted_at is not None


@pytest.fixture
def machine_world(app, ctx):
    return build_world()


@pytest.mark.slow
@settings(FIXTURE_OK, max_examples=35)
@given(steps=st.lists(st.tuples(st.sampled_from(ACTORS), st.sampled_from(list(Action)), st.booleans()),
                      min_size=1, max_size=14),
       market=st.booleans())
def test_no_sequence_of_actions_reaches_an_illegal_state(machine_world, steps, market):
    world = machine_world
    site = world.market if market else world.lane
    finding = make_finding(world.inspector, site.community, site=site)
    target = make_finding(world.other_inspector, site.community, site=site)
    db.session.commit()
    fid = finding.id
    seen_overdue = None
    last_applied: tuple | None = None
    for actor_name, action, resend in steps:
        actor = getattr(world, actor_name)
        finding = db.session.get(Finding, fid)
        db.session.refresh(finding)
        before_status, before_version = finding.status, finding.version
        if resend and last_applied is not None:
            # A phone resending an action it already got through: same answer, no new state.
            who, action_id, body = last_applied
            result = workflow.apply_action(who, finding.uuid, action_id, body)
            assert result.created is False
            db.session.refresh(finding)
            assert (finding.status, finding.version) == (before_status, before_version)
            continue
        expected = workflow.may_act(actor, finding, action)
        body = valid_payload(action, world, actor, target)
        action_id = str(uuidlib.uuid4())
        events_before = db.session.scalar(select(func.count()).select_from(Event).where(Event.finding_id == fid))
        try:
            result = workflow.apply_action(actor, finding.uuid, action_id, body)
        except ServiceError as err:
            assert err.status in (403, 404, 409, 422), err
            db.session.rollback()
            finding = db.session.get(Finding, fid)
            db.session.refresh(finding)
            assert (finding.status, finding.version) == (before_status, before_version)
            assert not expected, f"{actor_name} may {action.value} from {before_status} but was refused: {err}"
            continue
        assert expected, f"{actor_name} applied {action.value} from {before_status}, which may_act forbids"
        assert result.created
        last_applied = (actor, action_id, body)
        db.session.refresh(finding)
        sources, target_status = TRANSITIONS[action]
        assert before_status in sources
        if action in (Action.accept,) and finding.party_kind:
            assert finding.status == Status.dispatched.value
        else:
            assert finding.status == (target_status or before_status)
        assert finding.version == before_version + 1  # only up, one per applied action
        events_after = db.session.scalar(select(func.count()).select_from(Event).where(Event.finding_id == fid))
        assert events_after > events_before
        check_state(finding)
        if seen_overdue is not None:
            assert finding.overdue_at == seen_overdue  # never cleared once set
        seen_overdue = finding.overdue_at or seen_overdue
