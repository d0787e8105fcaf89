"""The notice outbox as an admin sees it: configured groups, what was sent, what failed and why."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Notice, NoticeStatus, Webhook
from ..services import notices as service
from ..services.errors import ServiceError
from . import bp
from .common import int_arg, paginate
from .forms import WEBHOOK_KIND_LABELS, ActionForm

EVENT_LABELS = {"dispatch": _l("派遣"), "overdue": _l("逾期提醒"), "report": _l("每日通报"), "test": _l("测试")}


@bp.route("/notices/")
def notices():
    status = request.args.get("status", "")
    hook_id = int_arg("webhook")
    stmt = select(Notice).order_by(Notice.id.desc())
    if status in {s.value for s in NoticeStatus}:
        stmt = stmt.where(Notice.status == status)
    if hook_id:
        stmt = stmt.where(Notice.webhook_id == hook_id)
    hooks = list(db.session.scalars(select(Webhook).where(Webhook.url_hint != "").order_by(Webhook.id)))
    return render_template("admin/notices.html", page=paginate(stmt, 30), status=status, hook_id=hook_id,
                           hooks=hooks, counts=service.pending_overview(), kinds=WEBHOOK_KIND_LABELS,
                           event_labels=EVENT_LABELS, action_form=ActionForm(),
                           base_url=current_app.config.get("PUBLIC_BASE_URL", ""))


@bp.route("/notices/<int:notice_id>/resend", methods=["POST"])
def notice_resend(notice_id: int):
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        service.resend(current_user, notice)
        flash(_("已重新排队,下一次发送时会再试。"), "info")
    except ServiceError as err:
        flash(err.message, "error")
    return redirect(url_for("admin.notices", status="failed"))


@bp.route("/webhooks/<int:webhook_id>/test", methods=["POST"])
def webhook_test(webhook_id: int):
    hook = db.session.get(Webhook, webhook_id)
    if hook is None or not hook.url_hint:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    service.enqueue_test(current_user, hook)
    flash(_("测试消息已排队;发送程序(flask notify)下次运行时发出,结果见下表。"), "info")
    return redirect(url_for("admin.notices", webhook=hook.id))
