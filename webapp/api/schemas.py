"""Serialisation of the API's resources: one function per shape, so every endpoint answers alike.

The shapes are documented (and checked by the tests) in ``openapi.py``; change both together.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..models import Event, Finding, Photo, User
from ..services.photos import photo_urls


def iso(value: datetime | None) -> str | None:
    """UTC instants as ``2026-11-26T06:05:00Z``."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def iso_local(value: datetime, offset_min: int | None) -> str:
    """An instant in the device's own offset, as the phone sent it (``+08:00``)."""
    zone = timezone(timedelta(minutes=offset_min or 0))
    return value.astimezone(zone).isoformat()


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(user.roles),
        "locale": user.locale,
    }


def photo_json(photo: Photo) -> dict[str, Any]:
    """The upload's answer: ``sha256`` is what the phone sent (it compares it with its own hash)."""
    return {
        "id": photo.uuid,
        "sha256": photo.received_sha256,
        "stored_sha256": photo.sha256,
        "width": photo.width,
        "height": photo.height,
        "byte_size": photo.byte_size,
        "content_type": photo.content_type,
        **photo_urls(photo),
        "created_at": iso(photo.created_at),
    }


def finding_photo_json(photo: Photo) -> dict[str, Any]:
    return {"id": photo.uuid, "sha256": photo.received_sha256, "kind": photo.kind, **photo_urls(photo)}


def party_json(finding: Finding) -> dict[str, Any] | None:
    if not finding.party_kind:
        return None
    if finding.party_site is not None:
        name = finding.party_site.name
    elif finding.party_community is not None:
        name = finding.party_community.name
    else:
        name = None
    return {"kind": finding.party_kind, "community_id": finding.party_community_id,
            "site_id": finding.party_site_id, "name": name}


def finding_json(finding: Finding, *, events: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": finding.uuid,
        "kind": finding.kind,
        "status": finding.status,
        "version": finding.version,
        "captured_at": iso_local(finding.captured_at, finding.captured_offset_min),
        "received_at": iso(finding.received_at),
        "updated_at": iso(finding.updated_at),
        "community_id": finding.community_id,
        "site_id": finding.site_id,
        "zone_id": finding.zone_id,
        "category_code": finding.category.code if finding.category else None,
        "note": finding.note or "",
        "location": (
            {"lat": finding.latitude, "lon": finding.longitude, "accuracy_m": finding.accuracy_m}
            if finding.latitude is not None and finding.longitude is not None else None
        ),
        "photos": [finding_photo_json(p) for p in finding.photos],
        "deadline": iso(finding.deadline),
        "overdue_at": iso(finding.overdue_at),
        "party": party_json(finding),
    }
    if events:
        body["events"] = [event_json(e) for e in finding.events]
    return body


def event_json(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "at": iso(event.at),
        "actor": event.actor.display_name if event.actor else None,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note or "",
        "reason": event.reason,
        "data": event.data or {},
        "photo_ids": [p.uuid for p in event.photos],
    }
