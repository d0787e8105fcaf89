"""The workflow's rules as data and pure functions: the transition table, labels and reasons, deadline
rules, routing to a responsible party, action payload validation and the after-photo integrity checks.

Kept apart from ``workflow`` (which applies them in a transaction) so each can be read on its own;
nothing outside ``workflow`` imports this module — go through ``webapp.services.workflow``.
"""
from __future__ import annotations

import enum
import hashlib
import json
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import exists, select

from ..extensions import db
from ..models import Category, DeadlineUnit, Finding, Photo, PhotoKind, Role, Site, Status, User, UserRole
from ..models.users import user_sites
from .errors import Invalid
from ..images import hamming
from .geo import haversine_m


class Action(str, enum.Enum):
    accept = "accept"
    reject = "reject"
    duplicate = "duplicate"
    dispatch = "dispatch"
    acknowledge = "acknowledge"
    rectify = "rectify"
    dispute = "dispute"
    verify = "verify"
    reopen = "reopen"
    reclassify = "reclassify"  # change category/community/site before dispatch; status unchanged


S = Status
# action → (states it may start from, state it leads to; None = unchanged)
TRANSITIONS: dict[Action, tuple[frozenset[str], str | None]] = {
    Action.accept: (frozenset({S.submitted.value}), S.accepted.value),
    Action.reject: (frozenset({S.submitted.value, S.disputed.value}), S.rejected.value),
    Action.duplicate: (frozenset({S.submitted.value}), S.duplicate.value),
    Action.dispatch: (frozenset({S.accepted.value, S.disputed.value}), S.dispatched.value),
    Action.acknowledge: (frozenset({S.dispatched.value}), S.acknowledged.value),
    Action.rectify: (frozenset({S.dispatched.value, S.acknowledged.value}), S.rectified.value),
    Action.dispute: (frozenset({S.dispatched.value, S.acknowledged.value}), S.disputed.value),
    Action.verify: (frozenset({S.rectified.value}), S.verified.value),
    Action.reopen: (frozenset({S.rectified.value}), S.dispatched.value),
    Action.reclassify: (frozenset({S.submitted.value, S.accepted.value, S.disputed.value}), None),
}

# In the responsible party's hands: the deadline runs (a dispute pauses it until the desk decides).
OPEN_FOR_PARTY = (S.dispatched.value, S.acknowledged.value)
CLOSED = (S.rejected.value, S.duplicate.value, S.verified.value, S.ok.value)
DESK_ROLES = (Role.desk, Role.admin)
PARTY_ROLES = (Role.community, Role.manager)

STATUS_LABELS = {
    S.submitted.value: _l("待审核"),
    S.accepted.value: _l("已立案"),
    S.rejected.value: lazy_pgettext("status", "不予立案"),  # the button reads "Reject", the state "Rejected"
    S.duplicate.value: _l("重复"),
    S.dispatched.value: _l("已派遣"),
    S.acknowledged.value: _l("已签收"),
    S.disputed.value: _l("有异议"),
    S.rectified.value: _l("已整改待核查"),
    S.verified.value: _l("已结案"),
    S.ok.value: _l("卫生尚可"),
}
ACTION_LABELS = {
    Action.accept: _l("立案"),
    Action.reject: _l("不予立案"),
    Action.duplicate: _l("标记重复"),
    Action.dispatch: _l("派遣"),
    Action.acknowledge: _l("签收"),
    Action.rectify: _l("提交整改"),
    Action.dispute: _l("提出异议"),
    Action.verify: _l("核查通过"),
    Action.reopen: _l("退回重改"),
    Action.reclassify: _l("修改分类"),
}
# History lines: every action plus the non-transition events other modules write.
EVENT_LABELS = {**{a.value: label for a, label in ACTION_LABELS.items()},
                "evidence": _l("补充证据"), "created": _l("上报")}

REASONS: dict[Action, dict[str, object]] = {
    Action.reject: {
        "not_a_problem": _l("不属于问题"),
        "unclear": _l("照片不清,无法判断"),
        "out_of_scope": _l("不属于创卫范围"),
        "wrong_place": _l("位置或社区有误"),
        "already_fixed": _l("现场已整改"),
        "other": _l("其他"),
    },
    Action.dispute: {
        "not_ours": _l("不属于本单位"),
        "not_a_problem": _l("不是问题"),
        "wrong_place": _l("位置有误"),
        "already_fixed": _l("早已整改"),
        "other": _l("其他"),
    },
    Action.reopen: {
        "not_fixed": _l("未整改到位"),
        "photo_mismatch": _l("整改照片不符"),
        "recurred": _l("问题反复"),
        "other": _l("其他"),
    },
}

# Hamming distance on the 64-bit perceptual hash (images.dhash) under which two photos are "the same
# picture". Measured: the same picture re-encoded and rescaled (what a phone's gallery and our 1600 px
# downscale do) lands at 0–8; different scenes at 20 and above. Flags warn a human, so err wide.
PHASH_MAX_DISTANCE = 8
# Phone clocks drift; a photo a minute "before" dispatch is more likely a slow clock than a re-use.
CLOCK_SKEW = timedelta(minutes=2)
MAX_NOTE = 2000
MAX_PHOTOS = 9


def local_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("LOCAL_TIMEZONE", "Asia/Shanghai"))


def is_uuid(value) -> bool:
    if not isinstance(value, str) or len(value) != 36:  # canonical form only: one UUID, one spelling
        return False
    try:
        uuidlib.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return False
    return True


# --- deadlines and routing -------------------------------------------------------------------------

def compute_deadline(category: Category | None, start: datetime, tz: ZoneInfo | None = None) -> datetime:
    """The rectification deadline for a finding dispatched at ``start`` (aware UTC in, aware UTC out).

    same_day (一日一清, the default): 23:59:59 local on the local day of dispatch — which is not the
    UTC day: 00:30 in Shanghai is 16:30 UTC the day before. days=N: 23:59:59 local N days later.
    hours=N: exactly N hours later.
    """
    tz = tz or local_tz()
    unit = category.deadline_unit if category is not None else DeadlineUnit.same_day.value
    value = category.deadline_value if category is not None else 0
    if unit == DeadlineUnit.hours.value:
        return start + timedelta(hours=max(1, value))
    days = max(0, value) if unit == DeadlineUnit.days.value else 0
    local_day = start.astimezone(tz).date() + timedelta(days=days)
    return datetime.combine(local_day, time(23, 59, 59), tzinfo=tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class Party:
    kind: str  # "community" | "market"
    id: int  # community id, or the market's site id


def _market_has_manager(site: Site) -> bool:
    return bool(db.session.scalar(select(exists().where(
        user_sites.c.site_id == site.id, UserRole.user_id == user_sites.c.user_id,
        UserRole.role == Role.manager.value, User.id == user_sites.c.user_id, User.disabled.is_(False),
    ))))


def default_party(finding: Finding) -> Party:
    """Community staff by default; the market's manager for anything found in a market, market
    categories included (zoning, live poultry). A market category reported outside a market goes to
    the community, as we cannot guess which market; a market with no active manager falls back to
    its community too, so nothing is dispatched into a void."""
    site = finding.site
    if site is not None and site.is_market and _market_has_manager(site):
        return Party("market", site.id)
    return Party("community", finding.community_id)


def resolve_party(finding: Finding, spec) -> Party:
    from ..models import Community

    if spec == "auto":
        return default_party(finding)
    kind, pid = spec["kind"], spec["id"]
    if kind == "community":
        community = db.session.get(Community, pid)
        if community is None or community.retired_at is not None:
            raise Invalid(_("责任社区不存在。"), fields={"party": _("社区不存在")})
        return Party("community", community.id)
    site = db.session.get(Site, pid)
    if site is None or not site.is_market or site.retired_at is not None:
        raise Invalid(_("责任市场不存在。"), fields={"party": _("不是市场")})
    return Party("market", site.id)


def party_label(finding: Finding) -> str:
    if finding.party_kind == "market" and finding.party_site is not None:
        return finding.party_site.name
    if finding.party_kind == "community" and finding.party_community is not None:
        return finding.party_community.name
    return ""


# --- action payloads -------------------------------------------------------------------------------

@dataclass
class ActionRequest:
    type: Action
    note: str = ""
    reason: str | None = None
    duplicate_of: str | None = None
    party: object = None  # None | "auto" | {"kind", "id"}
    photo_ids: list[str] = field(default_factory=list)
    expected_version: int | None = None
    captured_at: datetime | None = None
    location: dict | None = None
    category_code: str | None = None
    community_id: int | None = None
    site_id: int | None = None
    provided: frozenset[str] = frozenset()
    payload_hash: str = ""


ALLOWED_KEYS = {"type", "note", "reason", "duplicate_of", "party", "photo_ids", "expected_version",
                "captured_at", "location", "category_code", "community_id", "site_id"}


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -2**31 < value < 2**31 else None  # an id or version the database's INTEGER can hold
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 10:
        return int(value.strip())
    return None


def parse_action(data, *, now: datetime) -> ActionRequest:
    """Validate an action payload (API JSON or a page's form, already a dict); 422 with per-field errors."""
    if not isinstance(data, dict):
        raise Invalid(_("请求内容必须是JSON对象。"), fields={"_": _("格式不正确")})
    errors: dict[str, str] = {}
    for key in set(data) - ALLOWED_KEYS:
        errors[key] = _("未知字段")
    try:
        action = Action(data.get("type"))
    except ValueError:
        raise Invalid(_("未知的操作类型。"), fields={"type": _("必须是以下之一: %(types)s",
                                                               types=", ".join(a.value for a in Action))})
    req = ActionRequest(type=action, provided=frozenset(data))

    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        errors["note"] = _("说明须为不超过%(n)s字的文字", n=MAX_NOTE)
    else:
        req.note = note.strip()

    reasons = REASONS.get(action)
    reason = data.get("reason")
    if reasons is not None:
        if not isinstance(reason, str) or reason not in reasons:  # a list or dict would raise TypeError
            errors["reason"] = _("请选择原因")
        else:
            req.reason = reason
            if reason == "other" and not req.note and "note" not in errors:
                errors["note"] = _("选择“其他”时请填写说明")
    elif reason not in (None, ""):
        errors["reason"] = _("此操作不需要原因")

    if action is Action.duplicate:
        if not is_uuid(data.get("duplicate_of")):
            errors["duplicate_of"] = _("请指定被重复的问题")
        else:
            req.duplicate_of = str(data["duplicate_of"]).lower()

    party = data.get("party")
    if action in (Action.accept, Action.dispatch) and party not in (None, ""):
        if party == "auto":
            req.party = "auto"
        elif isinstance(party, dict) and party.get("kind") in ("community", "market") and _int(party.get("id")):
            req.party = {"kind": party["kind"], "id": _int(party["id"])}
        else:
            errors["party"] = _("责任单位须为 \"auto\" 或 {kind: community|market, id}")
    elif party not in (None, ""):
        errors["party"] = _("此操作不需要责任单位")

    photo_ids = data.get("photo_ids") or []
    if not isinstance(photo_ids, list) or not all(is_uuid(p) for p in photo_ids):
        errors["photo_ids"] = _("照片编号须为UUID列表")
    elif photo_ids and action is not Action.rectify:
        errors["photo_ids"] = _("只有整改可以附照片")
    elif len(photo_ids) > MAX_PHOTOS:
        errors["photo_ids"] = _("最多%(n)s张照片", n=MAX_PHOTOS)
    else:
        req.photo_ids = list(dict.fromkeys(str(p).lower() for p in photo_ids))
    if action is Action.rectify:
        if not req.photo_ids and "photo_ids" not in errors:
            errors["photo_ids"] = _("请至少拍一张整改后的照片")
        if not req.note and "note" not in errors:
            errors["note"] = _("请填写整改说明")

    version = data.get("expected_version")
    if version is not None:
        if _int(version) is None or _int(version) < 1:
            errors["expected_version"] = _("须为正整数")
        else:
            req.expected_version = _int(version)

    captured = data.get("captured_at")
    if captured not in (None, ""):
        try:
            parsed = datetime.fromisoformat(str(captured).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError
            if parsed > now + timedelta(minutes=10):
                errors["captured_at"] = _("时间在未来,请检查手机时间")
            else:
                req.captured_at = parsed.astimezone(timezone.utc)
        except ValueError:
            errors["captured_at"] = _("须为带时区的ISO时间")

    location = data.get("location")
    if location not in (None, ""):
        try:
            lat, lon = float(location["lat"]), float(location["lon"])
            acc = location.get("accuracy_m")
            if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (acc is not None and not 0 <= float(acc) <= 1e6):
                raise ValueError
            req.location = {"lat": lat, "lon": lon, "accuracy_m": float(acc) if acc is not None else None}
        except (KeyError, TypeError, ValueError):
            errors["location"] = _("须为 {lat, lon, accuracy_m}")

    if action is Action.reclassify:
        code = data.get("category_code")
        req.category_code = str(code) if code not in (None, "") else None
        for key in ("community_id", "site_id"):
            raw = data.get(key)
            if raw in (None, ""):
                continue
            if _int(raw) is None:
                errors[key] = _("须为整数")
            else:
                setattr(req, key, _int(raw))
        if req.category_code is None and req.community_id is None and "site_id" not in data:
            errors["category_code"] = _("请至少修改一项")
    else:
        for key in ("category_code", "community_id", "site_id"):
            if data.get(key) not in (None, ""):
                errors[key] = _("只有修改分类可以改这一项")

    if errors:
        raise Invalid(_("提交的内容有误。"), fields=errors)
    req.payload_hash = _payload_hash(req)
    return req


def _payload_hash(req: ActionRequest) -> str:
    """What makes two requests 'the same action' (expected_version is a precondition, not content)."""
    canonical = {
        "type": req.type.value, "note": req.note, "reason": req.reason, "duplicate_of": req.duplicate_of,
        "party": req.party, "photo_ids": req.photo_ids,
        "captured_at": req.captured_at.isoformat() if req.captured_at else None, "location": req.location,
        "category_code": req.category_code, "community_id": req.community_id, "site_id": req.site_id,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --- verification integrity ------------------------------------------------------------------------

def integrity_report(finding: Finding, after: list[Photo], req: ActionRequest) -> dict:
    """Warnings for the verifier about the rectification evidence, stored on the rectify event.

    A party under deadline pressure may resend the 'before' photo, or one from the gallery taken
    before the problem was dispatched. We flag, never refuse: the verifier looks and decides.
    """
    befores = [p for p in finding.photos if p.kind in (PhotoKind.before.value, PhotoKind.evidence.value)]
    flags: list[dict] = []
    for photo in after:
        for before in befores:
            if photo.sha256 == before.sha256:
                flags.append({"code": "same_photo", "photo": photo.uuid, "before": before.uuid, "distance": 0})
                break
            if photo.phash and before.phash and hamming(photo.phash, before.phash) <= PHASH_MAX_DISTANCE:
                flags.append({"code": "phash_match", "photo": photo.uuid, "before": before.uuid,
                              "distance": hamming(photo.phash, before.phash)})
                break
        if photo.taken_at and finding.dispatched_at and photo.taken_at < finding.dispatched_at - CLOCK_SKEW:
            flags.append({"code": "taken_before_dispatch", "photo": photo.uuid,
                          "taken_at": photo.taken_at.isoformat()})
    if req.captured_at and finding.dispatched_at and req.captured_at < finding.dispatched_at - CLOCK_SKEW:
        flags.append({"code": "captured_before_dispatch", "captured_at": req.captured_at.isoformat()})
    report: dict = {"flags": flags} if flags else {}
    if req.captured_at:
        report["captured_at"] = req.captured_at.isoformat()
    if req.location:
        report["location"] = req.location
        if finding.latitude is not None and finding.longitude is not None:
            report["distance_m"] = round(haversine_m(finding.latitude, finding.longitude,
                                                     req.location["lat"], req.location["lon"]))
    return report


FLAG_LABELS = {
    "same_photo": _l("整改照片与整改前照片是同一张"),
    "phash_match": _l("整改照片与整改前照片几乎相同(疑似重复使用)"),
    "taken_before_dispatch": _l("整改照片拍摄于派遣之前"),
    "captured_before_dispatch": _l("整改操作时间早于派遣时间"),
}


def user_label(user: User | None) -> str:
    return user.display_name if user is not None else _("系统")
