"""The console's front page: where to go, and what needs an admin's attention."""
from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from ..extensions import db
from ..models import AuditEvent, Category, Site, User
from ..services.notices import pending_overview
from . import bp
from .common import ACTION_LABELS


@bp.route("/")
def index():
    counts = {
        "users": db.session.scalar(select(func.count(User.id)).where(User.disabled.is_(False))),
        "must_change": db.session.scalar(select(func.count(User.id)).where(User.must_change_password.is_(True),
                                                                           User.disabled.is_(False))),
        "sites": db.session.scalar(select(func.count(Site.id)).where(Site.retired_at.is_(None))),
        "categories": db.session.scalar(select(func.count(Category.id)).where(Category.retired_at.is_(None))),
    }
    recent = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(8)))
    return render_template("admin/index.html", counts=counts, notices=pending_overview(), recent=recent,
                           action_labels=ACTION_LABELS)
