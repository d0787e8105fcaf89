"""The finding workflow: the one module that owns states, transitions, deadlines and overdue marking.

信息收集 → 立案 → 派遣 → 处置 → 反馈 → 核查 → 结案, as a table (``TRANSITIONS``) plus who may fire each
action (``may_act``). Views and the API never change ``Finding.status`` themselves: they call
``apply_action``, which

* is idempotent by the client's action UUID (``Event.action_uuid`` is unique; an identical resend
  returns the stored result, a different payload under the same UUID is a conflict), because phones
  resend from their outbox after a lost response;
* refuses an illegal transition with the current state, so a phone that acted on stale data learns
  what happened instead of silently overwriting it;
* writes the new state with ``UPDATE … WHERE version = :loaded``, so of two people acting on the same
  finding at once exactly one wins, even when neither sent ``expected_version``;
* records every transition as an ``Event`` (actor, time, from/to, note, reason, data, photos), in the
  same transaction as the state change.

The module is longer than most because these rules only make sense read together; the payload
parsing and verification-integrity checks that feed them live in ``workflow_rules``.
"""
from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import scope
from ..extensions import db
from ..models import Category, Community, Event, Finding, Photo, PhotoKind, Role, Site, Status, User
from ..models.mixins import utcnow
from . import photos as photo_service
from .errors import Conflict, Forbidden, Invalid, NotFound
from .workflow_rules import (
    ACTION_LABELS, DESK_ROLES, EVENT_LABELS, OPEN_FOR_PARTY, PARTY_ROLES, REASONS, STATUS_LABELS, TRANSITIONS,
    Action, ActionRequest, Party, compute_deadline, default_party, integrity_report, is_uuid, parse_action,
    party_label, resolve_party,
)

__all__ = [
    "ACTION_LABELS", "EVENT_LABELS", "REASONS", "STATUS_LABELS", "TRANSITIONS", "Action", "ActionRequest",
    "ActionResult", "Party", "allowed_actions", "apply_action", "compute_deadline", "default_party",
    "finding_state", "is_overdue", "mark_overdue", "may_act", "parse_action", "party_label",
]


@dataclass
class ActionResult:
    finding: Finding
    event: Event
    created: bool  # False when the action UUID had already been applied with the same payload


# --- who may do what -------------------------------------------------------------------------------

# Which roles may fire each action at all (before looking at the particular finding).
ACTION_ROLES: dict[Action, tuple[Role, ...]] = {
    Action.accept: DESK_ROLES,
    Action.reject: DESK_ROLES,
    Action.duplicate: DESK_ROLES,
    Action.dispatch: DESK_ROLES,
    Action.reclassify: DESK_ROLES,
    Action.acknowledge: PARTY_ROLES,
    Action.rectify: PARTY_ROLES,
    Action.dispute: PARTY_ROLES,
    # 谁发现谁核查: the inspector who reported a problem checks it on their next round.
    Action.verify: DESK_ROLES + (Role.inspector,),
    Action.reopen: DESK_ROLES + (Role.inspector,),
}


def is_party(user: User, finding: Finding) -> bool:
    """The finding was dispatched to this user's community or market (their scope, not merely visible)."""
    if finding.party_kind == "community" and user.has_role(Role.community):
        return finding.party_community_id in {c.id for c in user.communities}
    if finding.party_kind == "market" and user.has_role(Role.manager):
        return finding.party_site_id in {s.id for s in user.sites}
    return False


def _role_allows(user: User, action: Action) -> bool:
    return user.has_role(*ACTION_ROLES[action])


def _actor_allows(user: User, finding: Finding, action: Action) -> bool:
    """The finding-specific half of the permission check (the role half is ``_role_allows``)."""
    if action in (Action.acknowledge, Action.rectify, Action.dispute):
        return is_party(user, finding)
    if action in (Action.verify, Action.reopen):
        return user.has_role(*DESK_ROLES) or (user.has_role(Role.inspector) and finding.inspector_id == user.id)
    return user.has_role(*DESK_ROLES)


def is_legal(finding: Finding, action: Action) -> bool:
    return finding.status in TRANSITIONS[action][0]


def may_act(user: User, finding: Finding, action: Action) -> bool:
    return (scope.can_see_finding(user, finding) and _role_allows(user, action) and is_legal(finding, action)
            and _actor_allows(user, finding, action))


def allowed_actions(user: User, finding: Finding) -> list[Action]:
    """What the pages offer this user on this finding now (the service re-checks on submit)."""
    return [a for a in Action if may_act(user, finding, a)]


# --- state snapshots -------------------------------------------------------------------------------

def is_overdue(finding: Finding, now: datetime | None = None) -> bool:
    """Overdue now or ever: the mark is permanent, and an open finding past its deadline counts
    even before the sweep has written the mark."""
    if finding.overdue_at is not None:
        return True
    now = now or utcnow()
    return finding.status in OPEN_FOR_PARTY and finding.deadline is not None and finding.deadline < now


def finding_state(finding: Finding) -> dict:
    """The compact state a client needs to reconcile after a 409 (and the top of every action reply)."""
    return {
        "id": finding.uuid,
        "status": finding.status,
        "version": finding.version,
        "deadline": finding.deadline.isoformat() if finding.deadline else None,
        "overdue": is_overdue(finding),
        "overdue_at": finding.overdue_at.isoformat() if finding.overdue_at else None,
        "party": ({"kind": finding.party_kind,
                   "id": finding.party_site_id if finding.party_kind == "market" else finding.party_community_id}
                  if finding.party_kind else None),
    }


# --- the one entry point for changing state -------------------------------------------------------

def _visible_finding(actor: User, finding_uuid: str) -> Finding:
    finding = db.session.scalar(select(Finding).where(Finding.uuid == str(finding_uuid)))
    # Invisible and absent answer alike, so a URL never reveals that a finding exists.
    if finding is None or not scope.can_see_finding(actor, finding):
        raise NotFound(_("找不到这条问题记录。"))
    return finding


def _conflict(finding: Finding, message: str, code: str) -> Conflict:
    return Conflict(message, code=code, finding=finding_state(finding))


def _replay(existing: Event, finding: Finding, payload_hash: str) -> ActionResult:
    if existing.finding_id != finding.id or existing.payload_hash != payload_hash:
        raise _conflict(finding, _("这个操作编号已用于另一次不同的操作。"), "action_conflict")
    return ActionResult(finding, existing, created=False)


def _event_for(action_uuid: str) -> Event | None:
    return db.session.scalar(select(Event).where(Event.action_uuid == action_uuid))


def apply_action(actor: User, finding_uuid: str, action_uuid: str, data: dict,
                 *, now: datetime | None = None) -> ActionResult:
    """Apply one workflow action for ``actor``; commits on success, rolls back and raises otherwise.

    Raises NotFound (not visible), Invalid (bad payload, 422), Forbidden (role or scope, 403),
    Conflict (illegal transition, stale version, or this action UUID used differently, 409; the
    error carries ``finding=finding_state(...)``).
    """
    now = now or utcnow()
    finding = _visible_finding(actor, finding_uuid)
    if not is_uuid(action_uuid):
        raise Invalid(_("操作编号必须是UUID。"), fields={"action_uuid": _("格式不正确")})
    action_uuid = str(action_uuid).lower()
    request = parse_action(data, now=now)
    existing = _event_for(action_uuid)
    if existing is not None:
        return _replay(existing, finding, request.payload_hash)

    action = request.type
    if not _role_allows(actor, action):
        raise Forbidden(_("您的角色不能执行“%(action)s”。", action=ACTION_LABELS[action]))
    if not is_legal(finding, action):
        raise _conflict(finding, _("当前状态为“%(status)s”,不能执行“%(action)s”。",
                                   status=STATUS_LABELS[finding.status], action=ACTION_LABELS[action]),
                        "illegal_transition")
    if not _actor_allows(actor, finding, action):
        raise Forbidden(_("这条问题不在您的职责范围内,不能执行“%(action)s”。", action=ACTION_LABELS[action]))
    if request.expected_version is not None and request.expected_version != finding.version:
        raise _conflict(finding, _("这条问题已被他人更新,请刷新后重试。"), "stale_version")

    try:
        event = _execute(actor, finding, action_uuid, request, now)
        db.session.commit()
    except IntegrityError:
        # The same action UUID raced in from another request: answer as the winner did.
        db.session.rollback()
        return _after_lost_race(actor, finding_uuid, action_uuid, request)
    except _LostRace:
        db.session.rollback()
        return _after_lost_race(actor, finding_uuid, action_uuid, request)
    except Exception:
        db.session.rollback()
        raise
    return ActionResult(finding, event, created=True)


class _LostRace(Exception):
    """The guarded UPDATE matched no row: someone else changed the finding since we loaded it."""


def _after_lost_race(actor: User, finding_uuid: str, action_uuid: str, request: ActionRequest) -> ActionResult:
    finding = _visible_finding(actor, finding_uuid)
    existing = _event_for(action_uuid)
    if existing is not None:
        return _replay(existing, finding, request.payload_hash)
    raise _conflict(finding, _("这条问题刚被他人更新,请刷新后重试。"), "stale_version")


def _guarded_update(finding: Finding, values: dict, now: datetime) -> None:
    """Write the new state only if nobody else has since we loaded ``finding`` (optimistic lock)."""
    values = {**values, "version": finding.version + 1, "updated_at": now}
    result = db.session.execute(
        update(Finding).where(Finding.id == finding.id, Finding.version == finding.version)
        .values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _LostRace()


def _new_event(finding: Finding, actor: User | None, type_: str, at: datetime, from_status: str | None,
               to_status: str | None, *, note: str = "", reason: str | None = None, data: dict | None = None,
               action_uuid: str | None = None, payload_hash: str | None = None) -> Event:
    event = Event(finding_id=finding.id, actor_id=actor.id if actor else None, type=type_, at=at,
                  from_status=from_status, to_status=to_status, note=note, reason=reason, data=data or None,
                  action_uuid=action_uuid, payload_hash=payload_hash)
    db.session.add(event)
    return event


def _overdue_mark(finding: Finding, at: datetime) -> dict:
    """Leaving the party's hands after the deadline marks the finding overdue, permanently."""
    if finding.overdue_at is None and finding.deadline is not None and finding.status in OPEN_FOR_PARTY \
            and at > finding.deadline:
        return {"overdue_at": finding.deadline}
    return {}


def _dispatch_values(finding: Finding, party: Party, at: datetime) -> dict:
    return {
        "party_kind": party.kind,
        "party_community_id": party.id if party.kind == "community" else None,
        "party_site_id": party.id if party.kind == "market" else None,
        "dispatched_at": at,
        "acknowledged_at": None,
        "rectified_at": None,
        "deadline": compute_deadline(finding.category, at),
    }


def _execute(actor: User, finding: Finding, action_uuid: str, req: ActionRequest, now: datetime) -> Event:
    action, before = req.type, finding.status
    target = TRANSITIONS[action][1] or before
    values: dict = {"status": target}
    first = dict(note=req.note, reason=req.reason, action_uuid=action_uuid, payload_hash=req.payload_hash)
    data: dict = {}
    after_photos: list[Photo] = []
    duplicate_target: Finding | None = None
    party: Party | None = None

    if action is Action.accept:
        values["accepted_at"] = now
        if req.party is not None:  # the desk's one-key accept + dispatch
            party = resolve_party(finding, req.party)
    elif action is Action.dispatch:
        party = resolve_party(finding, req.party or "auto")
    elif action is Action.duplicate:
        duplicate_target = _duplicate_target(actor, finding, req.duplicate_of)
        values["duplicate_of_id"] = duplicate_target.id
        data["duplicate_of"] = duplicate_target.uuid
    elif action is Action.acknowledge:
        values["acknowledged_at"] = now
    elif action is Action.rectify:
        after_photos = _after_photos(actor, req.photo_ids)
        values["rectified_at"] = now
        if finding.acknowledged_at is None:  # fixing it straight away implies having seen it
            values["acknowledged_at"] = now
        values.update(_overdue_mark(finding, now))
        data.update(integrity_report(finding, after_photos, req))
    elif action is Action.dispute:
        values.update(_overdue_mark(finding, now))
    elif action is Action.verify:
        values["verified_at"] = now
    elif action is Action.reopen:
        # Back to the same party with a fresh deadline from now (the rule restarts).
        party = Party(finding.party_kind, finding.party_site_id if finding.party_kind == "market"
                      else finding.party_community_id) if finding.party_kind else default_party(finding)
        values.update(_dispatch_values(finding, party, now))
        data["deadline"] = values["deadline"].isoformat()
        party = None
    elif action is Action.reclassify:
        change = _reclassify_values(finding, req)
        values.update(change["values"])
        data.update(change["data"])

    if party is not None:
        values.update(_dispatch_values(finding, party, now))
        values["status"] = Status.dispatched.value
    _guarded_update(finding, values, now)

    if action is Action.accept and party is not None:
        event = _new_event(finding, actor, Action.accept.value, now, before, Status.accepted.value, **first,
                           data=data)
        _new_event(finding, actor, Action.dispatch.value, now, Status.accepted.value, Status.dispatched.value,
                   data=_dispatch_data(party, values))
    else:
        if party is not None:
            data.update(_dispatch_data(party, values))
        event = _new_event(finding, actor, action.value, now, before, values["status"], **first, data=data)
    db.session.flush()

    if after_photos:
        _attach(finding, after_photos, PhotoKind.after, event, actor, now)
    if duplicate_target is not None:
        _add_evidence(actor, finding, duplicate_target, now)
    return event


def _dispatch_data(party: Party, values: dict) -> dict:
    return {"party": {"kind": party.kind, "id": party.id}, "deadline": values["deadline"].isoformat()}


def _duplicate_target(actor: User, finding: Finding, target_uuid: str | None) -> Finding:
    target = db.session.scalar(select(Finding).where(Finding.uuid == str(target_uuid)))
    if target is None or not scope.can_see_finding(actor, target):
        raise Invalid(_("找不到被重复的问题。"), fields={"duplicate_of": _("不存在")})
    if target.id == finding.id:
        raise Invalid(_("不能标记为自身的重复。"), fields={"duplicate_of": _("不能是自身")})
    if target.kind != "problem" or target.status in (Status.rejected.value, Status.duplicate.value):
        raise Invalid(_("只能归并到有效的问题上(不能是已退回或已标记重复的问题)。"),
                      fields={"duplicate_of": _("目标无效")})
    return target


def _after_photos(actor: User, photo_ids: list[str]) -> list[Photo]:
    rows = {p.uuid: p for p in db.session.scalars(select(Photo).where(Photo.uuid.in_(photo_ids)))}
    missing = [pid for pid in photo_ids if pid not in rows]
    if missing:
        raise Invalid(_("有照片尚未上传。"), fields={"photo_ids": _("未上传: %(ids)s", ids=", ".join(missing))},
                      missing=missing)
    foreign = [pid for pid in photo_ids if rows[pid].uploader_id != actor.id]
    if foreign:
        raise Invalid(_("只能使用自己上传的照片。"), fields={"photo_ids": _("不是本人上传: %(ids)s",
                                                                         ids=", ".join(foreign))})
    attached = [pid for pid in photo_ids if rows[pid].finding_id is not None]
    if attached:
        raise Invalid(_("照片已属于其他记录。"), fields={"photo_ids": _("已被使用: %(ids)s", ids=", ".join(attached))})
    return [rows[pid] for pid in photo_ids]


def _attach(finding: Finding, photos: list[Photo], kind: PhotoKind, event: Event, actor: User,
            at: datetime) -> None:
    # The pipeline claims each photo race-safely and burns the watermark into its view.
    photo_service.attach_photos(finding, photos, kind.value, actor, at)
    for photo in photos:
        photo.event_id = event.id
    db.session.flush()


def _add_evidence(actor: User, duplicate: Finding, target: Finding, now: datetime) -> None:
    """The kept finding gains the duplicate's photos as extra evidence.

    Photos are content-addressed, so the copies share the stored files; the duplicate keeps its
    own rows, because the inspector's phone confirms its capture by those photos' hashes.
    """
    event = _new_event(target, actor, "evidence", now, target.status, target.status,
                       data={"from": duplicate.uuid})
    db.session.flush()
    position = max((p.position for p in target.photos), default=-1) + 1
    copied = [c.key for c in Photo.__table__.columns
              if c.key not in {"id", "uuid", "finding_id", "event_id", "kind", "position", "created_at"}]
    for offset, photo in enumerate(p for p in duplicate.photos if p.kind == PhotoKind.before.value):
        db.session.add(Photo(
            **{key: getattr(photo, key) for key in copied}, uuid=str(uuidlib.uuid4()), finding_id=target.id,
            event_id=event.id, kind=PhotoKind.evidence.value, position=position + offset, created_at=now,
        ))


def _reclassify_values(finding: Finding, req: ActionRequest) -> dict:
    """The desk corrects what the inspector tagged, before anyone is dispatched on the wrong data."""
    values: dict = {}
    before = {"category": finding.category.code if finding.category else None,
              "community_id": finding.community_id, "site_id": finding.site_id}
    category = finding.category.code if finding.category else None
    if req.category_code is not None:
        cat = db.session.scalar(select(Category).where(Category.code == req.category_code,
                                                       Category.retired_at.is_(None)))
        if cat is None:
            raise Invalid(_("类别不存在。"), fields={"category_code": _("不存在")})
        values["category_id"], category = cat.id, cat.code
    community_id = finding.community_id
    if req.community_id is not None:
        community = db.session.get(Community, req.community_id)
        if community is None or community.retired_at is not None:
            raise Invalid(_("社区不存在。"), fields={"community_id": _("不存在")})
        values["community_id"] = community_id = community.id
    if "site_id" in req.provided:
        site_id = req.site_id
        if site_id is not None:
            site = db.session.get(Site, site_id)
            if site is None or site.community_id != community_id:
                raise Invalid(_("点位不属于该社区。"), fields={"site_id": _("不属于该社区")})
    else:  # keep the site unless it belongs to the community we moved away from
        site_id = finding.site_id if finding.site is None or finding.site.community_id == community_id else None
    if site_id != finding.site_id:
        values["site_id"], values["zone_id"] = site_id, None
    after = {"category": category, "community_id": community_id, "site_id": site_id}
    return {"values": values, "data": {"before": before, "after": after}}


# --- overdue ---------------------------------------------------------------------------------------

def mark_overdue(now: datetime | None = None) -> int:
    """Stamp ``overdue_at`` on open findings whose deadline has passed; returns how many.

    Called lazily by the queue and task pages and by ``flask mark-overdue`` (cron). The stamp is the
    deadline itself, so it does not depend on when the sweep ran, and it is never cleared, so a late
    fix still counts as late in reports. It is not a transition: no version bump, so a phone holding
    ``expected_version`` is not made stale by a clock.
    """
    now = now or utcnow()
    result = db.session.execute(
        update(Finding)
        .where(Finding.overdue_at.is_(None), Finding.deadline.is_not(None), Finding.deadline < now,
               Finding.status.in_(OPEN_FOR_PARTY))
        .values(overdue_at=Finding.deadline)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount or 0


def sweep_overdue(now: datetime | None = None) -> int:
    """``mark_overdue`` for GET pages: a cheap indexed read first, and only when something is due a
    short write transaction (SQLite: BEGIN IMMEDIATE), so page views do not queue behind each other."""
    from ..sqlite_tuning import write_intent

    now = now or utcnow()
    due = db.session.scalar(select(Finding.id).where(
        Finding.overdue_at.is_(None), Finding.deadline.is_not(None), Finding.deadline < now,
        Finding.status.in_(OPEN_FOR_PARTY)).limit(1))
    if due is None:
        return 0
    db.session.commit()  # end the read transaction; the write gets one of its own
    with write_intent():
        return mark_overdue(now)
