"""Phone-first work lists: the party's "我的任务" and the inspector's "待核查".

The pages render everything a task needs (photos, deadline, forms with a fresh action UUID), so
once loaded they keep working with no signal: tasks.js puts each action into the same IndexedDB
outbox as captures. Without JavaScript the forms post here and go through the same service.
"""
from __future__ import annotations

import base64
import hashlib
import uuid as uuidlib
from datetime import datetime, timezone

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..auth.decorators import role_required
from ..models import Role
from ..services import workflow, worklists
from ..services.errors import ServiceError
from ..services.photos import ingest_photo
from . import bp

PARTY = (Role.manager, Role.community)
SEEN_KEY = "rejections_seen_at"


def _me():
    return current_user._get_current_object()


@bp.route("/")
@role_required(*PARTY)
def index():
    workflow.sweep_overdue()
    me = _me()
    tasks = worklists.party_tasks(me)
    # Market managers think in zones (果蔬区, 活禽区 …): a zoning problem is acknowledged where it happened.
    grouped = worklists.by_zone(tasks.open) if me.has_role(Role.manager) else [(None, tasks.open)]
    return render_template("tasks/index.html", tasks=tasks, grouped=grouped, **_common())


@bp.route("/verify")
@role_required(Role.inspector, Role.desk, Role.admin)
def verify():
    me = _me()
    items = worklists.to_verify(me)
    rejected = worklists.rejected_reports(me) if me.has_role(Role.inspector) else []
    # Seeing the list clears the "rejected" part of the badge (per browser session).
    session[SEEN_KEY] = workflow.utcnow().isoformat()
    return render_template("tasks/verify.html", items=items, rejected=rejected, **_common())


def _common() -> dict:
    return {
        "status_labels": workflow.STATUS_LABELS, "reasons": workflow.REASONS, "Action": workflow.Action,
        "now": workflow.utcnow(), "is_overdue": workflow.is_overdue, "party_label": workflow.party_label,
        "new_uuid": lambda: str(uuidlib.uuid4()), "user_id": _me().id,
    }


def _digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


@bp.post("/findings/<finding_uuid>/act")
@login_required
def act(finding_uuid: str):
    """The no-JavaScript path (and the fallback when IndexedDB is unavailable): photos arrive in the
    form, are stored through the photo pipeline, then the action is applied."""
    form = request.form
    body: dict = {"type": form.get("type", "")}
    for name in ("note", "reason"):
        if form.get(name):
            body[name] = form[name]
    if form.get("expected_version", "").isdigit():
        body["expected_version"] = int(form["expected_version"])
    me = _me()
    back = url_for("tasks.verify" if body["type"] in ("verify", "reopen") else "tasks.index")
    try:
        files = [f for f in request.files.getlist("photos") if f and f.filename]
        if files:
            body["photo_ids"] = []
            for index, upload in enumerate(files):
                data = upload.read()
                # Stable per form and file, so a resubmitted form re-uses the photos it already stored.
                photo_uuid = str(uuidlib.uuid5(uuidlib.UUID(form.get("action_uuid", "")), str(index)))
                photo, _created = ingest_photo(me, photo_uuid, data, upload.mimetype, _digest(data))
                body["photo_ids"].append(photo.uuid)
        workflow.apply_action(me, finding_uuid, form.get("action_uuid", ""), body)
    except ValueError:
        abort(400)
    except ServiceError as err:
        details = "; ".join(v for v in err.fields.values() if isinstance(v, str))
        flash(f"{err.message} {details}".strip(), "error")
        return redirect(back)
    flash(_("已%(action)s。", action=workflow.ACTION_LABELS[workflow.Action(body["type"])]), "info")
    return redirect(back)


def inspector_badge(user) -> int:
    raw = session.get(SEEN_KEY)
    seen = datetime.fromisoformat(raw) if raw else None
    if seen is not None and seen.tzinfo is None:
        seen = seen.replace(tzinfo=timezone.utc)
    return worklists.inspector_badge(user, seen)
