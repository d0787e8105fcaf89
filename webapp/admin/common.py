"""Small helpers shared by the console's views: service errors onto forms, paging, place trees."""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from flask import request
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, select

from ..extensions import db
from ..models import Community, Site, SiteKind, Street
from ..services.errors import ServiceError

PAGE_SIZE = 50


def apply_errors(form: FlaskForm, err: ServiceError) -> list[str]:
    """Put a service's per-field messages on the form's fields; return the ones no field shows."""
    leftover = []
    for name, messages in (err.fields or {}).items():
        messages = messages if isinstance(messages, list) else [messages]
        if name in form._fields:
            form[name].errors = list(form[name].errors or []) + [str(m) for m in messages]
        else:
            leftover.extend(str(m) for m in messages)
    if not err.fields:
        leftover.append(err.message)
    return leftover


@dataclass
class Page:
    items: list
    page: int
    pages: int
    total: int


def paginate(stmt: Select, page_size: int = PAGE_SIZE) -> Page:
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.session.scalars(stmt.limit(page_size).offset((page - 1) * page_size)))
    return Page(items, page, max(1, ceil(total / page_size)), total)


def place_tree(include_retired: bool = True) -> list[Street]:
    """Streets with communities and sites loaded, for pickers and the places page, in name order."""
    stmt = select(Street).order_by(Street.retired_at.is_not(None), Street.name)
    if not include_retired:
        stmt = stmt.where(Street.retired_at.is_(None))
    return list(db.session.scalars(stmt))


def market_sites() -> list[Site]:
    return list(db.session.scalars(
        select(Site).join(Community).join(Street)
        .where(Site.kind == SiteKind.market.value)
        .order_by(Street.name, Community.name, Site.name)))


def int_arg(name: str) -> int | None:
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        return None
