"""The desk's pages: the review queue with filters and bulk accept, and the finding page (triage,
history, before/after). Every state change goes through ``workflow.apply_action``."""
from __future__ import annotations

import uuid as uuidlib

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import scope
from ..auth.decorators import role_required
from ..extensions import db
from ..models import Community, Event, Finding, Role
from ..services import queue as queue_service
from ..services import workflow
from ..services.errors import ServiceError
from . import bp
from . import presenters as p

DESK = (Role.desk, Role.admin)


def _me():
    return current_user._get_current_object()


@bp.route("/")
@role_required(*DESK)
def queue():
    workflow.sweep_overdue()
    filters = queue_service.parse_filters(request.args)
    page = queue_service.page(_me(), filters, after=request.args.get("after"), before=request.args.get("before"))
    counts = queue_service.counts(_me(), filters)
    return render_template(
        "review/queue.html", page=page, filters=filters, counts=counts, args=filters.as_args(),
        status_labels=workflow.STATUS_LABELS, batch_id=p.fresh_action_uuid(), now=workflow.utcnow(),
        active_more=sum(1 for k in filters.as_args() if k not in ("status", "overdue")),
        counted_statuses=(*queue_service.WORK_STATUSES, "open"),
        is_overdue=workflow.is_overdue,
    )


@bp.post("/bulk")
@role_required(*DESK)
def bulk():
    """Accept and dispatch each picked finding to its default party; each is its own transaction,
    so one finding that moved on meanwhile does not stop the others."""
    batch = request.form.get("batch_id", "")
    try:
        namespace = uuidlib.UUID(batch)
    except ValueError:
        abort(400)
    done, failed = 0, []
    for pick in request.form.getlist("pick"):
        finding_uuid, _sep, version = pick.partition(":")
        # Derived from the batch, so resubmitting the same form cannot apply anything twice.
        action_uuid = str(uuidlib.uuid5(namespace, finding_uuid))
        body = {"type": "accept", "party": "auto"}
        if version.isdigit():
            body["expected_version"] = int(version)
        try:
            workflow.apply_action(_me(), finding_uuid, action_uuid, body)
            done += 1
        except ServiceError as err:
            failed.append(err.message)
    if done:
        flash(ngettext("已立案并派遣 %(num)d 条。", "已立案并派遣 %(num)d 条。", done), "info")
    for message in sorted(set(failed)):
        flash(message, "error")
    return redirect(url_for("review.queue", **_queue_args()))


def _queue_args() -> dict:
    """The queue filters carried on the finding page's links and forms (prefixed q_ in forms)."""
    source = request.values
    raw = {k[2:]: v for k, v in source.items() if k.startswith("q_")} or source
    return queue_service.parse_filters(raw).as_args()


def _load(finding_uuid: str) -> Finding:
    finding = db.session.scalar(
        select(Finding).where(Finding.uuid == finding_uuid)
        .options(selectinload(Finding.photos), selectinload(Finding.events).selectinload(Event.photos)))
    if finding is None or not scope.can_see_finding(_me(), finding):
        abort(404)
    return finding


@bp.route("/findings/<finding_uuid>")
@login_required
def finding(finding_uuid: str):
    f = _load(finding_uuid)
    me = _me()
    desk = me.has_role(*DESK)
    args = _queue_args() if desk else {}
    filters = queue_service.parse_filters(args)
    prev_uuid, next_uuid = queue_service.neighbours(me, filters, f) if desk else (None, None)
    allowed = workflow.allowed_actions(me, f)
    show_party = any(a in allowed for a in (workflow.Action.accept, workflow.Action.dispatch))
    return render_template(
        "review/finding.html", f=f, allowed=allowed, Action=workflow.Action, args=args,
        prev_uuid=prev_uuid, next_uuid=next_uuid, photos=[p.photo_view(x) for x in f.photos],
        pair=p.before_after(f), history=p.history(f), links=p.location_links(f),
        candidates=queue_service.duplicate_candidates(me, f) if workflow.Action.duplicate in allowed else [],
        party=p.party_choices(me, f) if show_party else None,
        categories=p.categories() if workflow.Action.reclassify in allowed else [],
        communities=list(db.session.scalars(select(Community).where(Community.retired_at.is_(None))
                                            .order_by(Community.name))) if workflow.Action.reclassify in allowed
        else [],
        reasons=workflow.REASONS, status_labels=workflow.STATUS_LABELS, action_labels=workflow.ACTION_LABELS,
        party_label=workflow.party_label(f), overdue=workflow.is_overdue(f), action_uuid=p.fresh_action_uuid(),
    )


FORM_FIELDS = ("note", "reason", "duplicate_of", "category_code", "community_id")


@bp.post("/findings/<finding_uuid>/act")
@login_required
def act(finding_uuid: str):
    """A page's action form → the same service the API uses. Back to the queue's next finding after a
    desk decision, or to this finding's page."""
    form = request.form
    body: dict = {"type": form.get("type", "")}
    for name in FORM_FIELDS:
        if form.get(name):
            body[name] = form[name]
    if body["type"] in ("accept", "dispatch"):
        body["party"] = p.parse_party(form.get("party"))
        if body["type"] == "accept" and form.get("accept_only"):
            body.pop("party")
    if form.get("expected_version", "").isdigit():
        body["expected_version"] = int(form["expected_version"])
    me = _me()
    args = _queue_args()
    try:
        f = _load(finding_uuid)
        position = (f.captured_at, f.id)
        result = workflow.apply_action(me, finding_uuid, form.get("action_uuid", ""), body)
    except ServiceError as err:
        details = "; ".join(f"{v}" for v in err.fields.values() if isinstance(v, str))
        flash(f"{err.message} {details}".strip(), "error")
        return redirect(url_for("review.finding", finding_uuid=finding_uuid, **args))
    flash(_("已%(action)s。", action=workflow.ACTION_LABELS[workflow.Action(body["type"])]), "info")
    if me.has_role(*DESK) and result.finding.status != workflow.Status.submitted.value and form.get("advance"):
        filters = queue_service.parse_filters(args)
        following = queue_service.first_after(me, filters, *position)
        if following:
            return redirect(url_for("review.finding", finding_uuid=following, **args))
        return redirect(url_for("review.queue", **args))
    return redirect(url_for("review.finding", finding_uuid=finding_uuid, **args))
