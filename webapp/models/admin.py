"""Administration records: the audit trail of admin changes, chat-group webhooks and their notice outbox."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .findings import Finding
from .mixins import CreatedAtMixin, UTCDateTime, utcnow
from .places import Community, Site, Street
from .users import User


class AuditEvent(db.Model):
    """One admin change: who did what to which entity, with the entity's fields before and after.

    ``entity_label`` keeps a human name at the time of the change, so the trail still reads well
    after the entity is renamed or retired.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity", "entity_type", "entity_id"),
        Index("ix_audit_events_at", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    entity_label: Mapped[str] = mapped_column(String(200), default="")
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship()


class WebhookKind(str, enum.Enum):
    wecom = "wecom"  # 企业微信群机器人
    dingtalk = "dingtalk"  # 钉钉自定义机器人


class Webhook(CreatedAtMixin, db.Model):
    """A chat group's robot, owned by exactly one street, community or market site.

    The URL carries the robot's credential, so it and the DingTalk secret are stored encrypted;
    ``url_hint`` is the masked form the console shows after saving.
    """

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("streets.id"), unique=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), unique=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    url_encrypted: Mapped[str] = mapped_column(Text)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    url_hint: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_dispatch: Mapped[bool] = mapped_column(Boolean, default=True)
    # Local times "HH:MM", comma-separated; empty means the event does not post to this group.
    overdue_times: Mapped[str] = mapped_column(String(100), default="")
    report_time: Mapped[str] = mapped_column(String(5), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    street: Mapped[Street | None] = relationship()
    community: Mapped[Community | None] = relationship()
    site: Mapped[Site | None] = relationship()

    @property
    def owner(self) -> Street | Community | Site | None:
        return self.street or self.community or self.site

    @property
    def owner_kind(self) -> str:
        if self.street_id or self.street:
            return "street"
        if self.community_id or self.community:
            return "community"
        return "site"


class NoticeStatus(str, enum.Enum):
    pending = "pending"
    sent = "sent"
    failed = "failed"  # gave up after the last attempt; kept, and an admin may send it again


class Notice(CreatedAtMixin, db.Model):
    """One message for one chat group, written in the same transaction as the event that caused it.

    ``dedup_key`` is unique: the same dispatch, reminder slot or report part is never queued twice.
    The text is fixed when queued (what the group sees describes the moment of the event); the
    platform body and DingTalk signature are made at each attempt, because the signature expires.
    """

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(20))
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), index=True)
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=NoticeStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A worker claims a notice by moving this forward, so two workers never post the same row at once.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(String(500), default="")

    webhook: Mapped[Webhook] = relationship()
    finding: Mapped[Finding | None] = relationship()
    attempt_rows: Mapped[list[NoticeAttempt]] = relationship(
        back_populates="notice", order_by="NoticeAttempt.id", cascade="all, delete-orphan"
    )


class NoticeAttempt(db.Model):
    """One POST to the platform and its answer (HTTP status and the body's errcode/errmsg)."""

    __tablename__ = "notice_attempts"
    __table_args__ = (Index("ix_notice_attempts_webhook_at", "webhook_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    http_status: Mapped[int | None] = mapped_column(Integer)
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str] = mapped_column(String(300), default="")
    error: Mapped[str] = mapped_column(String(300), default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    notice: Mapped[Notice] = relationship(back_populates="attempt_rows")
