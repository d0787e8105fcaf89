"""The worker's half of the outbox: claim due notices, post them, record the answer, back off.

Kept apart from ``notices`` (which decides what is queued for whom) so each reads on its own. The
HTTP call happens outside any database transaction: a notice is claimed (a conditional UPDATE that
only one worker can win, committed), posted, then its result is committed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update

from ..extensions import db
from ..models import Notice, NoticeAttempt, NoticeStatus
from ..models.mixins import utcnow
from . import notice_delivery
from .errors import Invalid
from .notices import schedule_due, setting
from .webhooks import SecretUnreadable, check_url, decrypt

log = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    sent: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    skipped_webhooks: set[int] = field(default_factory=set)


def _backoff(attempts: int) -> timedelta:
    seconds = setting("NOTICE_BACKOFF_SECONDS") * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, setting("NOTICE_MAX_BACKOFF_SECONDS")))


def _rate_exceeded(webhook_id: int, now: datetime) -> bool:
    recent = db.session.scalar(select(func.count(NoticeAttempt.id)).where(
        NoticeAttempt.webhook_id == webhook_id, NoticeAttempt.at > now - timedelta(seconds=60)))
    return (recent or 0) >= setting("NOTICE_RATE_PER_MINUTE")


def _claim(notice_id: int, now: datetime) -> bool:
    lease = timedelta(seconds=2 * setting("NOTICE_TIMEOUT_SECONDS") + 30)
    result = db.session.execute(
        update(Notice)
        .where(Notice.id == notice_id, Notice.status == NoticeStatus.pending.value,
               or_(Notice.locked_until.is_(None), Notice.locked_until <= now))
        .values(locked_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _attempt(notice: Notice, now: datetime) -> bool:
    hook = notice.webhook
    answer: notice_delivery.Answer
    if not hook.enabled or not hook.url_hint:
        notice.status = NoticeStatus.failed.value
        with force_locale("zh_CN"):
            notice.last_error = _("群机器人已暂停或已移除")
        notice.locked_until = None
        db.session.commit()
        return False
    try:
        url = decrypt(hook.url_encrypted)
        secret = decrypt(hook.secret_encrypted) if hook.secret_encrypted else None
        check_url(url)
    except SecretUnreadable:
        with force_locale("zh_CN"):
            answer = notice_delivery.Answer(ok=False, error=_("保存的机器人地址无法解密(SECRET_KEY 已更换?),请重新填写地址"))
    except Invalid:
        with force_locale("zh_CN"):
            answer = notice_delivery.Answer(ok=False, error=_("机器人地址的主机不在允许列表中(NOTICE_ALLOWED_HOSTS)"))
    else:
        target = notice_delivery.signed_url(url, secret) if hook.kind == "dingtalk" else url
        answer = notice_delivery.post(target, notice_delivery.body_for(hook.kind, notice.content),
                                      setting("NOTICE_TIMEOUT_SECONDS"))
    notice.attempts += 1
    db.session.add(NoticeAttempt(notice_id=notice.id, webhook_id=hook.id, at=now, ok=answer.ok,
                                 http_status=answer.http_status, errcode=answer.errcode, errmsg=answer.errmsg,
                                 error=answer.error, duration_ms=answer.duration_ms))
    notice.locked_until = None
    if answer.ok:
        notice.status = NoticeStatus.sent.value
        notice.sent_at = now
        notice.last_error = ""
        log.info("notice %s sent to webhook %s (%s)", notice.id, hook.id, notice.event_type)
    else:
        notice.last_error = answer.error[:500]
        if notice.attempts >= setting("NOTICE_MAX_ATTEMPTS"):
            notice.status = NoticeStatus.failed.value
            log.warning("notice %s gave up after %s attempts: %s", notice.id, notice.attempts, answer.error)
        else:
            notice.next_attempt_at = now + _backoff(notice.attempts)
            log.info("notice %s attempt %s failed (%s); next at %s", notice.id, notice.attempts, answer.error,
                     notice.next_attempt_at.isoformat())
    db.session.commit()
    return answer.ok


def deliver_due(now: datetime | None = None, limit: int = 200) -> DeliveryStats:
    """Send what is due, oldest first. A group's notices go out in order: once one of them fails or
    is waiting for its retry, later ones for the same group wait too (the platform is probably down,
    and a report's part 2 must not arrive before part 1)."""
    now = now or utcnow()
    stats = DeliveryStats()
    rows = db.session.execute(
        select(Notice.id, Notice.webhook_id, Notice.next_attempt_at, Notice.locked_until)
        .where(Notice.status == NoticeStatus.pending.value).order_by(Notice.id).limit(limit)
    ).all()
    blocked: set[int] = set()
    for row in rows:
        if row.webhook_id in blocked:
            continue
        if row.next_attempt_at > now or (row.locked_until is not None and row.locked_until > now) \
                or _rate_exceeded(row.webhook_id, now) or not _claim(row.id, now):
            blocked.add(row.webhook_id)
            continue
        notice = db.session.get(Notice, row.id)
        db.session.refresh(notice)
        if _attempt(notice, now):
            stats.sent += 1
        else:
            stats.failed_attempts += 1
            stats.gave_up += notice.status == NoticeStatus.failed.value
            blocked.add(row.webhook_id)
    stats.skipped_webhooks = blocked
    return stats


def run_once(now: datetime | None = None) -> tuple[int, DeliveryStats]:
    """One worker pass: queue what the clock has made due, then send what is due."""
    now = now or utcnow()
    return schedule_due(now), deliver_due(now)
