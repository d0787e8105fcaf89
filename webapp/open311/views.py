"""GeoReport v2 endpoints: discovery, services, requests (GET list, GET one, POST)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app, g, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from .. import scope
from ..auth.tokens import user_for_token
from ..extensions import db
from ..models import Category, Community, Finding, Status
from ..models.mixins import utcnow
from ..services import open311 as open311_service
from ..services.errors import ServiceError
from . import bp
from .formats import FORMATS, Open311Error, error_response, render
from .serialize import request_record, service_record

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this endpoint's definition last changed (discovery's ``changeset``); bump with the code.
CHANGESET = "2026-11-26T00:00:00+08:00"
MAX_RESULTS = 1000
MAX_WINDOW = timedelta(days=90)
FMT = f"<any({', '.join(FORMATS)}):fmt>"


def _fmt_of_path() -> str:
    return "xml" if request.path.endswith(".xml") else "json"


@bp.after_request
def _public_reads(response):
    """Reads are public data for other cities' pages: any origin may fetch them (no credentials are
    involved) and embed the photos, which the app-wide same-origin resource policy would forbid."""
    if request.method in ("GET", "HEAD"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.errorhandler(Open311Error)
def _open311_error(err: Open311Error):
    return error_response(_fmt_of_path(), err.status, err.description)


@bp.errorhandler(ServiceError)
def _service_error(err: ServiceError):
    description = err.message
    if err.fields:
        description += " " + "; ".join(f"{name}: {text}" for name, text in err.fields.items())
    return error_response(_fmt_of_path(), err.status, description)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    return error_response(_fmt_of_path(), err.code or 500, err.description or err.name)


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str):
    base = url_for("open311.discovery", fmt="json", _external=True).rsplit("/", 1)[0]
    body = {
        "changeset": CHANGESET,
        "contact": current_app.config["OPEN311_CONTACT"],
        "key_service": current_app.config["OPEN311_KEY_SERVICE"],
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": base,
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    }
    return render(fmt, "discovery", None, body)


@bp.get(f"/services.{FMT}")
def services(fmt: str):
    categories = db.session.scalars(
        select(Category).where(Category.retired_at.is_(None)).order_by(Category.sort_order, Category.id)
    )
    return render(fmt, "services", "service", [service_record(c) for c in categories])


def _parse_datetime(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime, e.g. 2026-11-26T08:00:00+08:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(current_app.config["LOCAL_TIMEZONE"]))
    return value.astimezone(timezone.utc)


def _date_window() -> tuple[datetime, datetime]:
    """The spec's window: the last 90 days by default, never more than 90 days wide."""
    start, end = _parse_datetime("start_date"), _parse_datetime("end_date")
    if start is None and end is None:
        end = utcnow()
        start = end - MAX_WINDOW
    elif start is None:
        start = end - MAX_WINDOW
    elif end is None:
        end = start + MAX_WINDOW
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end


def _csv(name: str) -> list[str]:
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()]


def _public_findings():
    return (
        select(Finding)
        .where(scope.public_finding_filter())
        .options(
            selectinload(Finding.category), selectinload(Finding.community).selectinload(Community.street),
            selectinload(Finding.site), selectinload(Finding.party_community), selectinload(Finding.party_site),
            selectinload(Finding.photos),
        )
    )


@bp.get(f"/requests.{FMT}")
def list_requests(fmt: str):
    ids = _csv("service_request_id")
    stmt = _public_findings()
    if ids:
        # The spec: a list of ids overrides every other filter.
        if len(ids) > MAX_RESULTS:
            raise Open311Error(400, f"at most {MAX_RESULTS} service_request_id values")
        stmt = stmt.where(Finding.uuid.in_([i.lower() for i in ids]))
    else:
        start, end = _date_window()
        stmt = stmt.where(Finding.captured_at >= start, Finding.captured_at <= end)
        codes = _csv("service_code")
        if codes:
            stmt = stmt.where(Finding.category_id.in_(select(Category.id).where(Category.code.in_(codes))))
        statuses = {s.lower() for s in _csv("status")}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both (comma separated)")
        if statuses == {"open"}:
            stmt = stmt.where(Finding.status != Status.verified.value)
        elif statuses == {"closed"}:
            stmt = stmt.where(Finding.status == Status.verified.value)
    stmt = stmt.order_by(Finding.captured_at.desc(), Finding.id.desc()).limit(MAX_RESULTS)
    records = [request_record(f) for f in db.session.scalars(stmt)]
    return render(fmt, "service_requests", "request", records)


@bp.get(f"/requests/<service_request_id>.{FMT}")
def get_request(service_request_id: str, fmt: str):
    finding = db.session.scalar(_public_findings().where(Finding.uuid == service_request_id.lower()))
    if finding is None:
        raise Open311Error(404, f"no service request {service_request_id}")
    return render(fmt, "service_requests", "request", [request_record(finding)])


def _partner():
    """The account behind the request's key: the spec's ``api_key`` field, or a bearer token."""
    if g.get("token_auth"):
        user = current_user._get_current_object() if current_user.is_authenticated else None
    else:
        raw = (request.form.get("api_key") or "").strip()
        user = user_for_token(raw) if raw else None
        if user is not None:
            g._login_user = user  # the request log names the partner account
    if user is None:
        raise Open311Error(403, "api_key missing or invalid")
    return user


@bp.post(f"/requests.{FMT}")
def post_request(fmt: str):
    user = _partner()
    finding, created = open311_service.submit_request(user, open311_service.parse_request(request.form))
    body = [{"service_request_id": finding.uuid, "service_notice": str(_l("已收到,审核受理后可在此查询进度。")),
             "account_id": None}]
    return render(fmt, "service_requests", "request", body, 201 if created else 200)
