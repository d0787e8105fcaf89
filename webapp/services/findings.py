"""Creating a finding from a phone's outbox: validate, then store it with its photos in one transaction.

A phone resends whenever it did not see the answer, so creation is idempotent by the phone's uuid:
the same content again returns the stored finding (200), different content under the same uuid is a
conflict (409). "The same content" is decided by a hash of the canonical payload, so key order,
whitespace or a float written as ``31.0`` vs ``31`` do not turn a resend into a conflict.

The finding becomes visible to desk staff only when it, its "created" event and all its photos are
committed together; a failure anywhere rolls all of it back.
"""
from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Category, Community, Event, Finding, FindingKind, Photo, PhotoKind, Site, Status, User, Zone
from ..models.mixins import utcnow
from .errors import BadRequest, Conflict, Invalid
from .photos import attach_photos, commit_keeping_state, normalise_uuid

NOTE_MAX = 2000
MAX_PHOTOS = 9  # a WeChat-sized batch; more is a mistake on the phone, not a finding
FUTURE_TOLERANCE = timedelta(minutes=10)  # phone clocks drift; more than this is a wrong clock
MAX_AGE = timedelta(days=365)  # older is a reset clock (1970, 2000-01-01), not an old patrol
FIELDS = {"kind", "captured_at", "community_id", "site_id", "zone_id", "category_code", "note", "location",
          "photo_ids"}


def parse_payload(payload: Any, now: datetime | None = None, *, require_photo: bool = True) -> dict[str, Any]:
    """Check the payload's shape and values (no database); returns the canonical form or raises Invalid.

    ``require_photo=False`` is for partner systems (Open311) whose reports may come without a picture."""
    if not isinstance(payload, dict):
        raise BadRequest(_("请求体必须是 JSON 对象。"), code="invalid_json")
    now = now or utcnow()
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}

    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        errors["_unknown"] = _("未知字段: %(names)s", names=", ".join(unknown))

    kind = payload.get("kind")
    if kind not in (FindingKind.problem.value, FindingKind.ok.value):
        errors["kind"] = _("须为 problem 或 ok。")
    out["kind"] = kind

    captured = _parse_instant(payload.get("captured_at"), errors)
    if captured is not None:
        at, offset = captured
        if at > now + FUTURE_TOLERANCE:
            errors["captured_at"] = _("拍摄时间在未来,请检查手机时间。")
        elif at < now - MAX_AGE:
            errors["captured_at"] = _("拍摄时间过早,请检查手机时间。")
        out["captured_at"] = at
        out["captured_offset_min"] = offset

    for name, required in (("community_id", True), ("site_id", False), ("zone_id", False)):
        value = payload.get(name)
        if value is None and not required:
            out[name] = None
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:  # fits INTEGER
            errors[name] = _("须为有效编号。")
        else:
            out[name] = value
    if out.get("zone_id") is not None and out.get("site_id") is None:
        errors["zone_id"] = _("选择分区前须先选择点位。")

    code = payload.get("category_code")
    if code in (None, ""):
        out["category_code"] = None
        if kind == FindingKind.problem.value:
            errors["category_code"] = _("请选择问题类别。")
    elif not isinstance(code, str) or len(code) > 40 or not _clean_text(code):
        errors["category_code"] = _("类别无效。")
    else:
        out["category_code"] = code

    note = payload.get("note")
    if note is None:
        note = ""
    if not isinstance(note, str):
        errors["note"] = _("备注须为文字。")
    elif len(note) > NOTE_MAX:
        errors["note"] = _("备注不能超过 %(n)s 字。", n=NOTE_MAX)
    elif not _clean_text(note):
        errors["note"] = _("备注含有无法保存的字符。")
    out["note"] = note.strip() if isinstance(note, str) else ""

    out["location"] = _parse_location(payload.get("location"), errors)

    photo_ids = payload.get("photo_ids")
    if photo_ids is None:
        photo_ids = []
    if not isinstance(photo_ids, list):
        errors["photo_ids"] = _("须为照片编号列表。")
        photo_ids = []
    normalised = [normalise_uuid(p) if isinstance(p, str) else None for p in photo_ids]
    if any(p is None for p in normalised):
        errors["photo_ids"] = _("照片编号不是有效的 UUID。")
    elif len(set(normalised)) != len(normalised):
        errors["photo_ids"] = _("照片重复。")
    elif len(normalised) > MAX_PHOTOS:
        errors["photo_ids"] = _("每条记录最多 %(n)s 张照片。", n=MAX_PHOTOS)
    elif kind == FindingKind.problem.value and not normalised and require_photo:
        errors["photo_ids"] = _("问题记录至少需要一张照片。")
    out["photo_ids"] = [p for p in normalised if p]

    if errors:
        raise Invalid(_("记录内容有误,请修改后重试。"), fields=errors)
    return out


def _clean_text(text: str) -> bool:
    """Storable text: valid Unicode (no lone surrogates) and no control characters but tab and newlines
    (PostgreSQL refuses NUL outright; the others only hide things from the desk)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any((ord(c) < 32 and c not in "\t\n\r") or c == "\x7f" for c in text)


def _parse_instant(value: Any, errors: dict[str, str]) -> tuple[datetime, int] | None:
    if not isinstance(value, str) or len(value) > 40:
        errors["captured_at"] = _("须为带时区的 ISO 8601 时间。")
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        offset = parsed.utcoffset()
        at = parsed.astimezone(timezone.utc) if offset is not None else None
    except (ValueError, OverflowError):  # OverflowError: year 1 moved before year 1 by its offset
        errors["captured_at"] = _("须为带时区的 ISO 8601 时间。")
        return None
    if offset is None or at is None:
        errors["captured_at"] = _("时间须带时区(如 +08:00)。")
        return None
    return at, int(offset.total_seconds() // 60)


def _parse_location(value: Any, errors: dict[str, str]) -> dict[str, float | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors["location"] = _("位置格式不正确。")
        return None

    def number(name: str, low: float, high: float, required: bool) -> float | None:
        raw = value.get(name)
        if raw is None and not required:
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) \
                or not low <= raw <= high:
            errors[f"location.{name}"] = _("超出范围。")
            return None
        return float(raw)

    location = {"lat": number("lat", -90, 90, True), "lon": number("lon", -180, 180, True),
                "accuracy_m": number("accuracy_m", 0, 1_000_000, False)}
    return location


def payload_hash(parsed: dict[str, Any]) -> str:
    """SHA-256 of the canonical payload: what makes a resend "the same"."""
    canonical = {**parsed, "captured_at": parsed["captured_at"].isoformat()}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def create_finding(user: User, finding_uuid: str, payload: dict, *,
                   require_photo: bool = True) -> tuple[Finding, bool]:
    """Create (or recognise a resend of) a finding with its photos; returns (finding, created).

    Raises BadRequest (uuid), Invalid (422, per-field), Conflict (uuid used for other content).
    """
    uid = normalise_uuid(finding_uuid)
    if uid is None:
        raise BadRequest(_("记录编号不是有效的 UUID。"), code="invalid_uuid")
    parsed = parse_payload(payload, require_photo=require_photo)
    digest = payload_hash(parsed)

    existing = _by_uuid(uid)
    if existing is not None:
        return _repeat(existing, user, digest), False

    community, site, zone, category, photos = _resolve(user, parsed)
    status = Status.submitted.value if parsed["kind"] == FindingKind.problem.value else Status.ok.value
    now = utcnow()
    location = parsed["location"] or {}
    finding = Finding(
        uuid=uid, kind=parsed["kind"], inspector=user, captured_at=parsed["captured_at"],
        captured_offset_min=parsed["captured_offset_min"], received_at=now, updated_at=now,
        community=community, site=site, zone=zone, category=category, note=parsed["note"],
        latitude=location.get("lat"), longitude=location.get("lon"), accuracy_m=location.get("accuracy_m"),
        payload_hash=digest, status=status, version=1,
    )
    db.session.add(finding)
    try:
        # Insert the finding first: a concurrent identical PUT then waits on the uuid's unique index
        # (and fails there) instead of racing us for the photos.
        db.session.flush()
        db.session.add(Event(finding=finding, actor=user, type="created", at=now, to_status=status))
        if photos:
            attach_photos(finding, photos, PhotoKind.before.value, user, parsed["captured_at"], first_position=0)
        # A new finding has exactly these photos, claimed (kind, position, marked view) in the session
        # by attach_photos: the answer needs no query for them.
        set_committed_value(finding, "photos", photos)
        commit_keeping_state()
    except (IntegrityError, Invalid):
        db.session.rollback()
        existing = _by_uuid(uid)
        if existing is None:
            raise
        return _repeat(existing, user, digest), False
    except BaseException:
        db.session.rollback()
        raise
    return finding, True


def _by_uuid(uid: str) -> Finding | None:
    return db.session.scalar(select(Finding).where(Finding.uuid == uid))


def _repeat(existing: Finding, user: User, digest: str) -> Finding:
    if existing.inspector_id != user.id or existing.payload_hash != digest:
        raise Conflict(_("此记录编号已用于内容不同的记录。"), code="finding_conflict",
                       current_status=existing.status if existing.inspector_id == user.id else None)
    return existing


def _resolve(user: User, parsed: dict[str, Any]):
    """Look up every referenced row; collect all problems so the phone can show them at once."""
    errors: dict[str, Any] = {}
    extra: dict[str, list[str]] = {}

    community = db.session.get(Community, parsed["community_id"])
    if community is None or community.retired_at is not None or community.street.retired_at is not None:
        errors["community_id"] = _("社区不存在或已停用。")
        community = None

    site = None
    if parsed["site_id"] is not None:
        site = db.session.get(Site, parsed["site_id"])
        if site is None or site.retired_at is not None:
            errors["site_id"] = _("点位不存在或已停用。")
            site = None
        elif community is not None and site.community_id != community.id:
            errors["site_id"] = _("点位不属于所选社区。")

    zone = None
    if parsed["zone_id"] is not None:
        zone = db.session.get(Zone, parsed["zone_id"])
        if zone is None or zone.retired_at is not None:
            errors["zone_id"] = _("分区不存在或已停用。")
            zone = None
        elif site is not None and zone.site_id != site.id:
            errors["zone_id"] = _("分区不属于所选点位。")

    category = None
    if parsed["category_code"] is not None:
        category = db.session.scalar(select(Category).where(Category.code == parsed["category_code"]))
        if category is None or category.retired_at is not None:
            errors["category_code"] = _("问题类别不存在或已停用。")
            category = None

    photos: list[Photo] = []
    if parsed["photo_ids"]:
        rows = {p.uuid: p for p in db.session.scalars(select(Photo).where(Photo.uuid.in_(parsed["photo_ids"])))}
        missing = [pid for pid in parsed["photo_ids"] if pid not in rows]
        foreign = [pid for pid in parsed["photo_ids"] if pid in rows and rows[pid].uploader_id != user.id]
        taken = [pid for pid in parsed["photo_ids"]
                 if pid in rows and pid not in foreign and rows[pid].finding_id is not None]
        messages = []
        if missing:
            messages.append(_("未上传: %(ids)s", ids=", ".join(missing)))
            extra["missing_photo_ids"] = missing
        if foreign:
            messages.append(_("不是本人上传: %(ids)s", ids=", ".join(foreign)))
            extra["foreign_photo_ids"] = foreign
        if taken:
            messages.append(_("已属于其他记录: %(ids)s", ids=", ".join(taken)))
            extra["attached_photo_ids"] = taken
        if messages:
            errors["photo_ids"] = ";".join(messages)
        photos = [rows[pid] for pid in parsed["photo_ids"] if pid in rows]

    if errors:
        db.session.rollback()
        raise Invalid(_("记录内容有误,请修改后重试。"), fields={**errors, **extra})
    return community, site, zone, category, photos
