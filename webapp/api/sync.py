"""The sync endpoints a phone's outbox talks to: who am I, create a finding, check findings' status."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from .. import scope
from ..auth.decorators import role_required
from ..extensions import db
from ..models import Finding, Role
from ..models.mixins import utcnow
from ..services import findings as finding_service
from ..services.errors import PayloadTooLarge
from ..services.photos import normalise_uuid
from . import bp
from .errors import ApiError
from .schemas import finding_json, iso, user_json

PAGE_DEFAULT, PAGE_MAX = 50, 200
MAX_FINDING_BYTES = 64 * 1024


@bp.get("/session")
@login_required
def session_info():
    response = jsonify({"user": user_json(current_user), "csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.put("/findings/<finding_uuid>")
@role_required(Role.inspector)
def put_finding(finding_uuid: str):
    payload = _json_body()
    finding, created = finding_service.create_finding(current_user._get_current_object(), finding_uuid, payload)
    response = jsonify(finding_json(finding))
    response.status_code = 201 if created else 200
    return response


@bp.get("/findings/<finding_uuid>")
@login_required
def get_finding(finding_uuid: str):
    uid = normalise_uuid(finding_uuid)
    finding = db.session.scalar(select(Finding).where(Finding.uuid == uid)) if uid else None
    # 404 whether it does not exist or is not yours to see: existence must not leak.
    if finding is None or not scope.can_see_finding(current_user, finding):
        raise ApiError(404, "not_found", _("记录不存在。"))
    response = jsonify(finding_json(finding, events=True))
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/findings")
@login_required
def list_findings():
    """Newest change first, keyset-paginated on (updated_at, id) so pages stay stable and cheap."""
    try:
        limit = int(request.args.get("limit", PAGE_DEFAULT))
    except ValueError:
        raise ApiError(400, "bad_limit", _("limit 须为整数。"), {"limit": _("须为整数")}) from None
    if not 1 <= limit <= PAGE_MAX:
        raise ApiError(400, "bad_limit", _("limit 须在 1 到 %(n)s 之间。", n=PAGE_MAX), {"limit": _("超出范围")})
    query = select(Finding).where(scope.finding_filter(current_user))
    if request.args.get("mine") == "1":
        query = query.where(Finding.inspector_id == current_user.id)
    since = request.args.get("since")
    if since:
        query = query.where(Finding.updated_at >= _instant(since, "since"))
    cursor = request.args.get("cursor")
    if cursor:
        at, last_id = _decode_cursor(cursor)
        query = query.where(or_(Finding.updated_at < at, and_(Finding.updated_at == at, Finding.id < last_id)))
    server_time = utcnow()
    rows = list(db.session.scalars(
        query.order_by(Finding.updated_at.desc(), Finding.id.desc()).limit(limit + 1)
        .options(selectinload(Finding.photos), selectinload(Finding.category))
    ))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({
        "findings": [finding_json(f) for f in rows],
        "next": _encode_cursor(rows[-1]) if more else None,
        "server_time": iso(server_time),
    })


def _json_body():
    """The body as JSON, bounded: a finding is a few hundred bytes, so anything near the photo-sized
    request limit is refused before parsing, and pathological nesting is a 400, not a crash."""
    if request.content_length is not None and request.content_length > MAX_FINDING_BYTES:
        raise PayloadTooLarge(_("请求体过大。"))
    data = request.stream.read(MAX_FINDING_BYTES + 1)
    if len(data) > MAX_FINDING_BYTES:
        raise PayloadTooLarge(_("请求体过大。"))
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", _("请求体须为 application/json。"))
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", _("请求体必须是 JSON 对象。")) from None


def _instant(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+").replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ApiError(400, "bad_" + name, _("时间格式不正确。"), {name: _("须为 ISO 8601 时间")}) from None


def _encode_cursor(finding: Finding) -> str:
    raw = f"{finding.updated_at.astimezone(timezone.utc).isoformat()}|{finding.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, last_id = raw.rsplit("|", 1)
        if not last_id.isdecimal() or len(last_id) > 18:  # an id the database can compare with
            raise ValueError(last_id)
        return datetime.fromisoformat(at).astimezone(timezone.utc), int(last_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "bad_cursor", _("分页游标无效。"), {"cursor": _("无效")}) from None
