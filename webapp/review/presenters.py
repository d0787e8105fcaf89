"""What the finding pages show, assembled from the models: photos with their URLs, the history with
labels, before/after pairs, integrity warnings, map links and party choices. No state changes."""
from __future__ import annotations

import uuid as uuidlib
from datetime import datetime

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from .. import scope
from ..extensions import db
from ..models import Category, Community, Finding, Photo, PhotoKind, Site, SiteKind, User
from ..services import workflow
from ..services.geo import map_links
from ..services.photos import photo_urls
from ..services.workflow_rules import FLAG_LABELS


def photo_view(photo: Photo) -> dict:
    return {"id": photo.uuid, "kind": photo.kind, **photo_urls(photo),
            "master_url": url_for("api.photo_file", photo_uuid=photo.uuid, variant="master"),
            "taken_at": photo.taken_at}


def before_after(finding: Finding) -> dict:
    """Photos for the side-by-side: what was found (and duplicates' evidence) | the latest fix."""
    before = [photo_view(p) for p in finding.photos if p.kind in (PhotoKind.before.value, PhotoKind.evidence.value)]
    rectifies = [e for e in finding.events if e.type == workflow.Action.rectify.value]
    latest = rectifies[-1] if rectifies else None
    after = [photo_view(p) for p in latest.photos] if latest else []
    data = (latest.data or {}) if latest else {}
    return {"before": before, "after": after, "rectify": latest, "flags": flag_texts(data),
            "distance_m": data.get("distance_m")}


def flag_texts(data: dict | None) -> list[str]:
    out = []
    for flag in (data or {}).get("flags", []):
        text = str(FLAG_LABELS.get(flag.get("code"), flag.get("code")))
        if flag.get("code") == "phash_match":
            text += _("(差异 %(d)s/64)", d=flag.get("distance"))
        out.append(text)
    return out


def history(finding: Finding) -> list[dict]:
    """Every event, oldest first, with the overdue moment placed where it happened."""
    rows = []
    for event in finding.events:
        reason_labels = workflow.REASONS.get(workflow.Action(event.type), {}) \
            if event.type in workflow.Action._value2member_map_ else {}
        data = event.data or {}
        rows.append({
            "at": event.at,
            "label": str(workflow.EVENT_LABELS.get(event.type, event.type)),
            "type": event.type,
            "actor": event.actor.display_name if event.actor else _("系统"),
            "from": str(workflow.STATUS_LABELS.get(event.from_status, event.from_status or "")),
            "to": str(workflow.STATUS_LABELS.get(event.to_status, event.to_status or "")),
            "reason": str(reason_labels.get(event.reason, event.reason or "")) if event.reason else "",
            "note": event.note,
            "photos": [photo_view(p) for p in event.photos],
            "flags": flag_texts(data),
            "distance_m": data.get("distance_m"),
            "captured_at": data.get("captured_at"),
            "deadline": datetime.fromisoformat(data["deadline"]) if data.get("deadline") else None,
            "party": data.get("party"),
            "duplicate_of": data.get("duplicate_of") or data.get("from"),
        })
    if finding.overdue_at is not None:
        rows.append({"at": finding.overdue_at, "label": _("已超期"), "type": "overdue", "actor": _("系统"),
                     "from": "", "to": "", "reason": "", "note": "", "photos": [], "flags": [],
                     "distance_m": None, "captured_at": None, "deadline": None, "party": None,
                     "duplicate_of": None})
        rows.sort(key=lambda r: r["at"])
    return rows


def party_choices(user: User, finding: Finding) -> dict:
    """For accept/dispatch: the automatic choice (named) and every community and market to pick from."""
    auto = workflow.default_party(finding)
    if auto.kind == "market":
        auto_label = db.session.get(Site, auto.id).name
    else:
        auto_label = db.session.get(Community, auto.id).name
    communities = db.session.scalars(select(Community).where(scope.community_filter(user),
                                                             Community.retired_at.is_(None))
                                     .order_by(Community.name))
    markets = db.session.scalars(select(Site).where(scope.site_filter(user), Site.kind == SiteKind.market.value,
                                                    Site.retired_at.is_(None)).order_by(Site.name))
    return {"auto_label": auto_label, "auto_kind": auto.kind, "communities": list(communities),
            "markets": list(markets)}


def parse_party(value: str | None):
    """The form's party select: "auto", "community:<id>" or "market:<id>"."""
    if not value or value == "auto":
        return "auto"
    kind, _sep, ident = value.partition(":")
    if kind in ("community", "market") and ident.isdigit():
        return {"kind": kind, "id": int(ident)}
    return value  # let the service say what is wrong with it


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).where(Category.retired_at.is_(None))
                                   .order_by(Category.sort_order)))


def fresh_action_uuid() -> str:
    """Rendered into each form, so a double-submitted form applies its action once."""
    return str(uuidlib.uuid4())


def location_links(finding: Finding) -> list[dict]:
    lat = finding.latitude if finding.latitude is not None else (finding.site.latitude if finding.site else None)
    lon = finding.longitude if finding.longitude is not None else (finding.site.longitude if finding.site else None)
    label = " ".join(x for x in (finding.community.name, finding.site.name if finding.site else "") if x)
    names = {"amap": _("高德地图"), "baidu": _("百度地图"), "geo": _("手机地图"), "osm": _("OpenStreetMap")}
    return [{**link, "label": names[link["key"]]} for link in map_links(lat, lon, label)]
