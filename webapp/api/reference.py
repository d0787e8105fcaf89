"""Reference data for the phone's pick lists, cached offline and revalidated with a strong ETag."""
from __future__ import annotations

import hashlib
import json

from flask import current_app, request
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import scope
from ..extensions import db
from ..models import Category, Community, Site, Street, Zone
from ..services.categories import FAMILIES
from . import bp


def reference_data(user) -> dict:
    """Only active rows the user's scope allows; a retired parent hides its children too."""
    streets = db.session.scalars(
        select(Street).where(Street.retired_at.is_(None), scope.street_filter(user)).order_by(Street.name, Street.id)
    ).all()
    street_ids = {s.id for s in streets}
    communities = [c for c in db.session.scalars(
        select(Community).where(Community.retired_at.is_(None), scope.community_filter(user))
        .order_by(Community.name, Community.id)
    ) if c.street_id in street_ids]
    community_ids = {c.id for c in communities}
    sites = [s for s in db.session.scalars(
        select(Site).where(Site.retired_at.is_(None), scope.site_filter(user)).order_by(Site.name, Site.id)
    ) if s.community_id in community_ids]
    site_ids = {s.id for s in sites}
    zones = [z for z in db.session.scalars(
        select(Zone).where(Zone.retired_at.is_(None)).order_by(Zone.site_id, Zone.sort_order, Zone.id)
    ) if z.site_id in site_ids]
    categories = db.session.scalars(
        select(Category).where(Category.retired_at.is_(None)).order_by(Category.sort_order, Category.code)
    ).all()
    return {
        "streets": [{"id": s.id, "name": s.name} for s in streets],
        "communities": [{"id": c.id, "street_id": c.street_id, "name": c.name} for c in communities],
        "sites": [{"id": s.id, "community_id": s.community_id, "name": s.name, "kind": s.kind,
                   "lat": s.latitude, "lon": s.longitude, "address": s.address} for s in sites],
        "zones": [{"id": z.id, "site_id": z.site_id, "name": z.name} for z in zones],
        "categories": [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "family": c.family,
                        "routes_to": c.routes_to, "sort_order": c.sort_order} for c in categories],
        "families": {code: {"name_zh": zh, "name_en": en} for code, (zh, en) in FAMILIES.items()},
    }


@bp.get("/reference")
@login_required
def reference():
    body = json.dumps(reference_data(current_user), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag)
    # Always revalidate: a retired community must disappear from pick lists on the next sync.
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)
