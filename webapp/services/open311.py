"""Service requests from partner systems (Open311 GeoReport v2 ``POST requests``) as submitted findings.

A city hotline or a 12345 platform forwards citizens' reports; they land in the desk's queue like an
inspector's capture (status ``submitted``), created by the partner's integration account, which holds
the inspector role. The spec's parameters map onto our payload:

- ``service_code`` → category; ``description`` → note; ``media_url`` is appended to the note as a
  link and never fetched (no outbound requests from the app servers, so no SSRF), so such findings
  may have no photo.
- The community comes from ``lat``/``long`` (the nearest known site's community, within
  OPEN311_MAX_SITE_DISTANCE_M) or else from ``address_string`` naming a site or a community.
- Citizens' names, e-mail and phone numbers are not stored: the desk does not need them to act.

The spec has no client-side id, so a resend cannot be told apart by one: the finding's uuid is
derived from the partner account and the request's content on the local day, which makes a retry
after a lost response return the same finding instead of a second one.
"""
from __future__ import annotations

import math
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Category, Community, Finding, Role, Site, Street, User
from ..models.mixins import utcnow
from .errors import BadRequest, Forbidden
from .findings import create_finding
from .geo import haversine_m

NAMESPACE = uuidlib.UUID("6f1d4c3e-2a7b-5c8d-9e0f-311311311311")
# Together with their labels these fit the finding's note (NOTE_MAX); longer input is refused, not cut.
MAX_LENGTHS = {"description": 1500, "address_string": 200, "media_url": 280}


@dataclass(frozen=True)
class PartnerRequest:
    service_code: str
    lat: float | None
    long: float | None
    address_string: str
    description: str
    media_url: str


def parse_request(form) -> PartnerRequest:
    """The spec's form fields; a missing service code or place is a 400, as GeoReport v2 lists it."""
    code = (form.get("service_code") or "").strip()
    if not code:
        raise BadRequest(_("缺少 service_code。"), code="service_code_required")
    lat_raw, long_raw = (form.get("lat") or "").strip(), (form.get("long") or "").strip()
    lat = lon = None
    if lat_raw or long_raw:
        try:
            lat, lon = float(lat_raw), float(long_raw)
        except ValueError:
            raise BadRequest(_("lat 和 long 须同时给出,且为数字。"), code="location_invalid") from None
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise BadRequest(_("lat/long 超出范围。"), code="location_invalid")
    texts = {name: (form.get(name) or "").strip() for name in MAX_LENGTHS}
    for name, limit in MAX_LENGTHS.items():
        if len(texts[name]) > limit:
            raise BadRequest(_("%(name)s 最多 %(n)s 字。", name=name, n=limit), code="too_long")
    if lat is None and not texts["address_string"]:
        raise BadRequest(_("须提供 lat 和 long,或 address_string。"), code="location_required")
    return PartnerRequest(code, lat, lon, texts["address_string"], texts["description"], texts["media_url"])


def nearest_community(lat: float, lon: float) -> Community | None:
    """The community of the nearest active site with coordinates, if it is close enough to be ours."""
    rows = db.session.execute(
        select(Site.latitude, Site.longitude, Site.community_id)
        .join(Community, Community.id == Site.community_id).join(Street, Street.id == Community.street_id)
        .where(Site.retired_at.is_(None), Community.retired_at.is_(None), Street.retired_at.is_(None),
               Site.latitude.is_not(None), Site.longitude.is_not(None))
    ).all()
    if not rows:
        return None
    distance, community_id = min((haversine_m(lat, lon, r.latitude, r.longitude), r.community_id) for r in rows)
    if distance > current_app.config["OPEN311_MAX_SITE_DISTANCE_M"]:
        return None
    return db.session.get(Community, community_id)


def community_named_in(address: str) -> Community | None:
    """The site or community whose name the address mentions; the longest name wins (二中家属院 over 二中)."""
    sites = db.session.execute(
        select(Site.name, Site.address, Site.community_id).where(Site.retired_at.is_(None))
    ).all()
    matches = [(len(s.name), s.community_id) for s in sites if s.name and s.name in address]
    matches += [(len(s.address), s.community_id) for s in sites if s.address and s.address in address]
    communities = db.session.execute(
        select(Community.name, Community.id).where(Community.retired_at.is_(None))
    ).all()
    matches += [(len(c.name), c.id) for c in communities if c.name and c.name in address]
    if not matches:
        return None
    return db.session.get(Community, max(matches)[1])


def _note(request: PartnerRequest) -> str:
    parts = [request.description]
    if request.address_string:
        parts.append(_("地址:%(address)s", address=request.address_string))
    if request.media_url:
        parts.append(_("照片链接:%(url)s", url=request.media_url))
    return "\n".join(p for p in parts if p)


def request_uuid(user: User, request: PartnerRequest, day: str) -> str:
    canonical = "|".join([str(user.id), request.service_code, repr(request.lat), repr(request.long),
                          request.address_string, request.description, request.media_url, day])
    return str(uuidlib.uuid5(NAMESPACE, canonical))


def submit_request(user: User, request: PartnerRequest, now: datetime | None = None) -> tuple[Finding, bool]:
    """Create a submitted finding for a partner's request; returns (finding, created).

    Raises Forbidden (the account may not submit), BadRequest (unknown service code, a place we do
    not cover) and whatever ``create_finding`` raises for the payload.
    """
    if not user.has_role(Role.inspector):
        raise Forbidden(_("此 API 密钥的账号无权提交问题(需要督导员角色)。"), code="not_a_submitter")
    category = db.session.scalar(select(Category).where(Category.code == request.service_code))
    if category is None or category.retired_at is not None:
        raise BadRequest(_("未知的 service_code:%(code)s", code=request.service_code), code="unknown_service")
    if request.lat is not None:
        community = nearest_community(request.lat, request.long)
    else:
        community = community_named_in(request.address_string)
    if community is None and request.lat is not None and request.address_string:
        community = community_named_in(request.address_string)
    if community is None:
        raise BadRequest(_("该位置不在本系统的辖区内(附近没有已登记的点位或社区)。"), code="outside_area")

    zone = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    local_now = (now or utcnow()).astimezone(zone)
    uid = request_uuid(user, request, local_now.date().isoformat())
    existing = db.session.scalar(select(Finding).where(Finding.uuid == uid))
    if existing is not None and existing.inspector_id == user.id:
        return existing, False  # a retry after a lost response
    payload = {
        "kind": "problem",
        "captured_at": local_now.isoformat(timespec="seconds"),
        "community_id": community.id,
        "category_code": category.code,
        "note": _note(request),
        "location": {"lat": request.lat, "lon": request.long} if request.lat is not None else None,
        "photo_ids": [],
    }
    return create_finding(user, uid, payload, require_photo=False)
