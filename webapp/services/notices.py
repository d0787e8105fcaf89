"""The outbox of chat-group notices: what gets queued, for which group, and the worker that sends it.

Why an outbox: the people who rectify problems live in their 企业微信/钉钉 groups, but a chat
platform that is slow or down must never slow down or break the desk's dispatch. So a dispatch only
writes a ``Notice`` row, in the same transaction as the workflow ``Event`` (an ``after_flush``
listener here sees every new Event whose ``to_status`` is "dispatched", so workflow.py needs no edit);
``flask notify`` sends queued notices later (``notice_sender``), retries failures with exponential
backoff, records every attempt with the platform's answer, and gives up only after
NOTICE_MAX_ATTEMPTS — the row stays, and an admin can send it again. ``dedup_key`` is unique, so a dispatch, a reminder slot or a report part
is queued once however often the worker runs.

Which group: a market's robot, else its community's, else the street's — the first enabled webhook
up that chain that wants the kind of notice. An office with only one street group still hears
everything; a community that sets up its own group takes over its own notices.
"""
from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.routing import BuildError

from ..extensions import db
from ..models import (
    Category, Community, Event, Finding, Notice, NoticeStatus, Site, Status, User, Webhook, Zone,
)
from ..models.mixins import utcnow
from . import audit, notice_delivery
from .notice_reports import report_parts
from .errors import Conflict
# In the party's hands with the deadline running: what an overdue reminder lists.
from .workflow import OPEN_FOR_PARTY

log = logging.getLogger(__name__)

DEFAULTS = {
    "PUBLIC_BASE_URL": "",
    "NOTICE_MAX_ATTEMPTS": 8,
    "NOTICE_BACKOFF_SECONDS": 30,
    "NOTICE_MAX_BACKOFF_SECONDS": 3600,
    "NOTICE_TIMEOUT_SECONDS": 10,
    "NOTICE_RATE_PER_MINUTE": 18,  # both platforms allow 20 messages a minute per robot
    "NOTICE_SLOT_GRACE_MINUTES": 120,
}


def setting(name: str):
    return current_app.config.get(name, DEFAULTS[name])


# ---- routing --------------------------------------------------------------------------------------

def _chain(party_kind: str | None, site_id: int | None, community_id: int | None) -> list[tuple[str, int]]:
    """(owner kind, id) from the most specific group up to the street's."""
    chain: list[tuple[str, int]] = []
    if party_kind == "market" and site_id:
        chain.append(("site", site_id))
        community_id = db.session.scalar(select(Site.community_id).where(Site.id == site_id))
    if community_id:
        chain.append(("community", community_id))
        street_id = db.session.scalar(select(Community.street_id).where(Community.id == community_id))
        if street_id:
            chain.append(("street", street_id))
    return chain


def _enabled_webhooks() -> dict[tuple[str, int], Webhook]:
    hooks = db.session.scalars(select(Webhook).where(Webhook.enabled.is_(True), Webhook.url_hint != ""))
    out = {}
    for hook in hooks:
        key = ("site", hook.site_id) if hook.site_id else (
            ("community", hook.community_id) if hook.community_id else ("street", hook.street_id))
        out[key] = hook
    return out


def route(chain: list[tuple[str, int]], hooks: dict[tuple[str, int], Webhook], wants) -> Webhook | None:
    for key in chain:
        hook = hooks.get(key)
        if hook is not None and wants(hook):
            return hook
    return None


# ---- text -----------------------------------------------------------------------------------------

def _local(value: datetime | None, fmt: str = "%m月%d日 %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config["LOCAL_TIMEZONE"])).strftime(fmt)


def finding_link(finding_uuid: str) -> str:
    """An absolute link to the party's task card; empty when PUBLIC_BASE_URL is not configured (a
    relative path is useless in a chat app, and guessing a host would send people to the wrong place)."""
    base = (setting("PUBLIC_BASE_URL") or "").rstrip("/")
    if not base:
        return ""
    try:
        path = current_app.url_map.bind("localhost").build("tasks.index", {})
    except BuildError:
        path = "/"
    return f"{base}{path}#task-{finding_uuid}"


def _dispatch_row(finding_id: int):
    """Read the finding's current columns with a plain SELECT: the workflow writes them with a Core
    UPDATE, so the ORM object in the session may still hold the values from before the dispatch."""
    return db.session.execute(
        select(Finding.id, Finding.uuid, Finding.note, Finding.deadline, Finding.party_kind, Finding.party_site_id,
               Finding.party_community_id, Finding.community_id, Community.name.label("community"),
               Site.name.label("site"), Zone.name.label("zone"), Category.name_zh.label("category"))
        .join(Community, Community.id == Finding.community_id)
        .outerjoin(Site, Site.id == Finding.site_id)
        .outerjoin(Zone, Zone.id == Finding.zone_id)
        .outerjoin(Category, Category.id == Finding.category_id)
        .where(Finding.id == finding_id)
    ).one_or_none()


def dispatch_text(row, reopened: bool = False) -> str:
    with force_locale("zh_CN"):
        head = _("【巡查·重新整改】") if reopened else _("【巡查·派遣】")
        lines = [head + (_("请于 %(t)s 前整改", t=_local(row.deadline)) if row.deadline else _("请尽快整改"))]
        lines.append(_("社区:%(name)s", name=row.community))
        if row.site:
            lines.append(_("点位:%(name)s", name=row.site + (f"({row.zone})" if row.zone else "")))
        lines.append(_("问题:%(name)s", name=row.category or _("未分类")))
        note = " ".join((row.note or "").split())
        if note:
            lines.append(_("说明:%(note)s", note=note[:120] + ("…" if len(note) > 120 else "")))
        lines.append(_("编号:%(id)s", id=row.id))
        link = finding_link(row.uuid)
        if link:
            lines.append(_("查看与反馈:%(link)s", link=link))
    return "\n".join(lines)


# ---- enqueue: dispatch ----------------------------------------------------------------------------

def enqueue_dispatch_notice(finding: Finding | int, event_id: int | None = None,
                            reopened: bool = False) -> Notice | None:
    """Queue the dispatch notice for the finding's party, in the caller's transaction (no commit).

    The after_flush listener calls this for every dispatch Event; it is public for code that
    dispatches without an Event. Returns None when no group wants it.
    """
    finding_id = finding if isinstance(finding, int) else finding.id
    row = _dispatch_row(finding_id)
    if row is None:
        return None
    chain = _chain(row.party_kind, row.party_site_id, row.party_community_id or row.community_id)
    hook = route(chain, _enabled_webhooks(), lambda h: h.notify_dispatch)
    if hook is None:
        return None
    marker = f"e{event_id}" if event_id is not None else f"d{_local(row.deadline, '%Y%m%d%H%M')}"
    key = f"dispatch:{finding_id}:{marker}:{hook.id}"
    if db.session.scalar(select(Notice.id).where(Notice.dedup_key == key)):
        return None
    notice = Notice(dedup_key=key, webhook_id=hook.id, event_type="dispatch", finding_id=finding_id,
                    content=_fit(hook.kind, dispatch_text(row, reopened)), next_attempt_at=utcnow())
    db.session.add(notice)
    return notice


def _fit(kind: str, text: str) -> str:
    limit = notice_delivery.BYTE_LIMITS[kind]
    return text if notice_delivery.fits(kind, text) else notice_delivery.cut_to_bytes(text, limit)[0]


def _after_flush(session: Session, flush_context) -> None:
    dispatched = [obj for obj in session.new
                  if isinstance(obj, Event) and obj.to_status == Status.dispatched.value]
    for ev in dispatched:
        # A notice is a courtesy; the dispatch is the record. Never let the first break the second.
        try:
            enqueue_dispatch_notice(ev.finding_id, ev.id, reopened=ev.type == "reopen")
        except Exception:  # noqa: BLE001 — logged with traceback, the action goes on
            log.exception("could not queue the dispatch notice for finding %s", ev.finding_id)


def init_app(app: Flask) -> None:
    if not sa_event.contains(Session, "after_flush", _after_flush):
        sa_event.listen(Session, "after_flush", _after_flush)


# ---- enqueue: scheduled reminders and reports -----------------------------------------------------

def _slots(times: str, now: datetime) -> list[datetime]:
    """Today's slots (aware, local) that have passed within the grace window, latest first."""
    zone = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    today = now.astimezone(zone).date()
    grace = timedelta(minutes=setting("NOTICE_SLOT_GRACE_MINUTES"))
    due = []
    for text in filter(None, (times or "").split(",")):
        hour, minute = map(int, text.split(":"))
        slot = datetime.combine(today, time(hour, minute), zone)
        if slot <= now < slot + grace:
            due.append(slot)
    return sorted(due, reverse=True)


def _overdue_rows(as_of: datetime):
    return db.session.execute(
        select(Finding.id, Finding.uuid, Finding.deadline, Finding.party_kind, Finding.party_site_id,
               Finding.party_community_id, Finding.community_id, Community.name.label("community"),
               Site.name.label("site"), Category.name_zh.label("category"))
        .join(Community, Community.id == Finding.community_id)
        .outerjoin(Site, Site.id == Finding.site_id)
        .outerjoin(Category, Category.id == Finding.category_id)
        .where(Finding.status.in_(OPEN_FOR_PARTY), Finding.deadline.is_not(None), Finding.deadline < as_of)
        .order_by(Finding.deadline, Finding.id)
    ).all()


def overdue_text(rows, as_of: datetime) -> str:
    with force_locale("zh_CN"):
        lines = [_("【巡查·逾期提醒】截至 %(t)s,以下 %(n)d 件未按期整改:", t=_local(as_of), n=len(rows))]
        for i, row in enumerate(rows, 1):
            where = " · ".join(filter(None, (row.community, row.site)))
            line = _("%(i)d. %(where)s · %(what)s · 期限 %(deadline)s",
                     i=i, where=where, what=row.category or _("未分类"), deadline=_local(row.deadline))
            link = finding_link(row.uuid)
            lines.append(line + (f" {link}" if link else ""))
    return "\n".join(lines)


def _add_unique(notices: list[Notice]) -> int:
    """Insert a group of notices all-or-nothing; a clash on dedup_key means another worker won."""
    try:
        db.session.add_all(notices)
        db.session.commit()
        return len(notices)
    except IntegrityError:
        db.session.rollback()
        return 0


def _parts(kind: str, text: str) -> list[str]:
    return notice_delivery.cut_to_bytes(text, notice_delivery.BYTE_LIMITS[kind])


def schedule_due(now: datetime | None = None) -> int:
    """Queue the overdue reminders and daily reports whose local time has come; returns how many."""
    now = now or utcnow()
    hooks = _enabled_webhooks()
    queued = 0
    overdue_due = {hook.id: slots[0] for hook in hooks.values() if (slots := _slots(hook.overdue_times, now))}
    if overdue_due:
        groups: dict[int, list] = {}
        for row in _overdue_rows(max(overdue_due.values())):
            chain = _chain(row.party_kind, row.party_site_id, row.party_community_id or row.community_id)
            hook = route(chain, hooks, lambda h: bool(h.overdue_times))
            if hook is not None and hook.id in overdue_due and row.deadline < overdue_due[hook.id]:
                groups.setdefault(hook.id, []).append(row)
        by_id = {hook.id: hook for hook in hooks.values()}
        for hook_id, rows in groups.items():
            slot = overdue_due[hook_id]
            prefix = f"overdue:{hook_id}:{slot:%Y%m%d%H%M}"
            if db.session.scalar(select(Notice.id).where(Notice.dedup_key.like(prefix + ":%"))):
                continue
            texts = _parts(by_id[hook_id].kind, overdue_text(rows, slot))
            queued += _add_unique([
                Notice(dedup_key=f"{prefix}:{i}", webhook_id=hook_id, event_type="overdue", content=text,
                       next_attempt_at=now)
                for i, text in enumerate(texts, 1)])
    for hook in hooks.values():
        slots = _slots(hook.report_time, now)
        if not slots:
            continue
        day = slots[0].date()
        prefix = f"report:{hook.id}:{day:%Y%m%d}"
        if db.session.scalar(select(Notice.id).where(Notice.dedup_key.like(prefix + ":%"))):
            continue
        texts = report_parts(hook, day, now)
        queued += _add_unique([
            Notice(dedup_key=f"{prefix}:{i}", webhook_id=hook.id, event_type="report", content=text,
                   next_attempt_at=now)
            for i, text in enumerate(texts, 1)])
    return queued


def enqueue_test(actor: User, hook: Webhook) -> Notice:
    """A test message from the console, so an admin sees the robot work before relying on it."""
    now = utcnow()
    with force_locale("zh_CN"):
        text = _("【巡查】测试消息:本群已接入巡查系统的通知(%(t)s)。", t=_local(now))
    notice = Notice(dedup_key=f"test:{hook.id}:{now:%Y%m%d%H%M%S%f}", webhook_id=hook.id, event_type="test",
                    content=text, next_attempt_at=now)
    db.session.add(notice)
    audit.record(actor, "notice.test", "webhook", hook, after={"queued": True}, label=hook.url_hint)
    db.session.commit()
    return notice


def resend(actor: User, notice: Notice) -> Notice:
    """Put a failed notice back in the queue with a fresh set of attempts; its history stays."""
    if notice.status != NoticeStatus.failed.value:
        raise Conflict(_("只有发送失败的通知可以重发。"))
    notice.status = NoticeStatus.pending.value
    notice.attempts = 0
    notice.next_attempt_at = utcnow()
    notice.locked_until = None
    audit.record(actor, "notice.resend", "notice", notice, before={"status": "failed"},
                 after={"status": "pending"}, label=notice.dedup_key)
    db.session.commit()
    return notice


def pending_overview() -> dict[str, int]:
    counts = dict(db.session.execute(select(Notice.status, func.count(Notice.id)).group_by(Notice.status)).all())
    return {status.value: counts.get(status.value, 0) for status in NoticeStatus}

