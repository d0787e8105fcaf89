"""The audit trail, filterable by entity, person, action, words and local dates."""
from __future__ import annotations

from datetime import date

from flask import current_app, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import AuditEvent, User
from ..services.audit import ENTITY_TYPES, AuditQuery, audit_select
from . import bp
from .common import ACTION_LABELS, FIELD_LABELS, int_arg, paginate, value_labels

ENTITY_LABELS = {"user": _l("用户"), "api_token": _l("令牌"), "street": _l("街道"), "community": _l("社区"),
                 "site": _l("点位"), "zone": _l("分区"), "category": _l("类别"), "webhook": _l("群机器人"),
                 "notice": _l("通知"), "import": _l("导入")}


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.route("/audit/")
def audit():
    query = AuditQuery(entity_type=request.args.get("entity_type", "") if request.args.get("entity_type")
                       in ENTITY_TYPES else "", entity_id=int_arg("entity_id"), actor_id=int_arg("actor"),
                       action=request.args.get("action", "").strip(), q=request.args.get("q", "").strip(),
                       day_from=_day("from"), day_to=_day("to"))
    page = paginate(audit_select(query, current_app.config["LOCAL_TIMEZONE"]))
    actor_ids = select(AuditEvent.actor_id).where(AuditEvent.actor_id.is_not(None)).distinct()
    actors = list(db.session.scalars(select(User).where(User.id.in_(actor_ids)).order_by(User.username)))
    return render_template("admin/audit.html", page=page, query=query, actors=actors, entity_labels=ENTITY_LABELS,
                           action_labels=ACTION_LABELS, field_labels=FIELD_LABELS, value_labels=value_labels())
