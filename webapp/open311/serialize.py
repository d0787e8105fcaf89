"""Our models as GeoReport v2 records: categories are services, accepted findings are requests."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from ..models import Category, Finding, PhotoKind, Status
from ..services.categories import FAMILIES
from .media import media_url

# What the desk has done so far, in words a partner's operator can show as is.
STATUS_NOTES = {
    Status.accepted.value: _l("已立案,待派遣"),
    Status.dispatched.value: _l("已派遣至责任单位,待签收"),
    Status.acknowledged.value: _l("责任单位已签收,整改中"),
    Status.disputed.value: _l("责任单位有异议,待协调"),
    Status.rectified.value: _l("已整改,待督导员核查"),
    Status.verified.value: _l("已核查,结案"),
}


def _locale() -> str:
    return str(get_locale() or "zh_CN")


def w3c(value: datetime | None) -> str | None:
    """W3C datetime with the city's offset (``2026-11-26T09:15:00+08:00``), as the spec's examples."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(current_app.config["LOCAL_TIMEZONE"])).isoformat(timespec="seconds")


def service_record(category: Category) -> dict[str, Any]:
    locale = _locale()
    family = FAMILIES.get(category.family)
    group = (family[1] if locale.startswith("en") else family[0]) if family else category.family
    return {
        "service_code": category.code,
        "service_name": category.name(locale),
        "description": category.name(locale),
        "metadata": False,  # no extra attributes: a request needs only place, category and text
        "type": "realtime",  # a submitted request is in the desk's queue at once
        "keywords": "",
        "group": group,
    }


def open_or_closed(finding: Finding) -> str:
    return "closed" if finding.status == Status.verified.value else "open"


def _address(finding: Finding) -> str:
    site = finding.site
    if site is not None and site.address:
        return site.address
    parts = [finding.community.street.name if finding.community else "",
             finding.community.name if finding.community else "", site.name if site else ""]
    return " ".join(part for part in parts if part)


def _agency(finding: Finding) -> str | None:
    if finding.party_site is not None:
        return finding.party_site.name
    if finding.party_community is not None:
        return finding.party_community.name
    return None


def _media(finding: Finding) -> str | None:
    before = [p for p in finding.photos if p.kind == PhotoKind.before.value]
    return media_url(before[0]) if before else None


def request_record(finding: Finding) -> dict[str, Any]:
    locale = _locale()
    notes = STATUS_NOTES.get(finding.status)
    return {
        "service_request_id": finding.uuid,
        "status": open_or_closed(finding),
        "status_notes": str(notes) if notes else "",
        "service_name": finding.category.name(locale) if finding.category else "",
        "service_code": finding.category.code if finding.category else "",
        "description": finding.note or "",
        "agency_responsible": _agency(finding),
        "service_notice": "",
        "requested_datetime": w3c(finding.captured_at),
        "updated_datetime": w3c(finding.updated_at),
        "expected_datetime": w3c(finding.deadline),
        "address": _address(finding),
        "address_id": None,
        "zipcode": None,
        "lat": finding.latitude,
        "long": finding.longitude,
        "media_url": _media(finding),
    }
