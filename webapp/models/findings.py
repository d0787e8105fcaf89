"""Findings (问题), their photos and the append-only event trail."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .categories import Category
from .mixins import CreatedAtMixin, UTCDateTime, utcnow
from .places import Community, Site, Zone
from .users import User


class FindingKind(str, enum.Enum):
    problem = "problem"
    ok = "ok"  # 卫生尚可: a site checked and found acceptable


class Status(str, enum.Enum):
    submitted = "submitted"
    accepted = "accepted"  # 立案
    rejected = "rejected"
    duplicate = "duplicate"
    dispatched = "dispatched"  # 派遣
    acknowledged = "acknowledged"
    disputed = "disputed"
    rectified = "rectified"  # 处置/反馈
    verified = "verified"  # 核查 → 结案
    ok = "ok"  # ok records skip the loop


class PartyKind(str, enum.Enum):
    community = "community"
    market = "market"


class Finding(CreatedAtMixin, db.Model):
    __tablename__ = "findings"
    __table_args__ = (
        Index("ix_findings_status_captured", "status", "captured_at", "id"),
        Index("ix_findings_community_captured", "community_id", "captured_at"),
        Index("ix_findings_inspector_captured", "inspector_id", "captured_at"),
        # The desk queue's keyset pagination and the overdue sweep (migration 0011_workflow_indexes).
        Index("ix_findings_captured_id", "captured_at", "id"),
        Index("ix_findings_status_community_captured", "status", "community_id", "captured_at", "id"),
        Index("ix_findings_status_category_captured", "status", "category_id", "captured_at", "id"),
        Index("ix_findings_status_deadline", "status", "deadline"),
        # The queue's facet counts and filtered pages (migration 0013_queue_facet_indexes).
        Index("ix_findings_status_inspector_captured", "status", "inspector_id", "captured_at", "id"),
        Index("ix_findings_status_site_captured", "status", "site_id", "captured_at", "id"),
        Index("ix_findings_overdue_captured", "captured_at", "id", postgresql_where=text("overdue_at IS NOT NULL"),
              sqlite_where=text("overdue_at IS NOT NULL")),
        # Partial indexes for the hot work lists (migration 0012_partial_indexes).
        *(Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))
          for name, columns, where in (
              ("ix_findings_submitted_queue", ("captured_at", "id"), "status = 'submitted'"),
              ("ix_findings_overdue_due", ("deadline",),
               "overdue_at IS NULL AND status IN ('dispatched', 'acknowledged')"),
              ("ix_findings_party_community_open", ("party_community_id", "deadline"),
               "status IN ('dispatched', 'acknowledged')"),
              ("ix_findings_party_site_open", ("party_site_id", "deadline"),
               "status IN ('dispatched', 'acknowledged')"),
              ("ix_findings_rectified_queue", ("rectified_at", "id"), "status = 'rectified'"),
          )),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    captured_offset_min: Mapped[int] = mapped_column(Integer, default=480)  # device's UTC offset
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    # Hash of the canonical create payload: a resend is 200 when equal, 409 when it differs.
    payload_hash: Mapped[str] = mapped_column(String(64))

    # Workflow state, owned by services/workflow.py.
    status: Mapped[str] = mapped_column(String(20), default=Status.submitted.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    party_kind: Mapped[str | None] = mapped_column(String(20))
    party_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    party_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rectified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set once when a deadline passes before rectification; never cleared, so late fixes still count.
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))

    inspector: Mapped[User] = relationship(foreign_keys=[inspector_id])
    community: Mapped[Community] = relationship(foreign_keys=[community_id])
    site: Mapped[Site | None] = relationship(foreign_keys=[site_id])
    zone: Mapped[Zone | None] = relationship()
    category: Mapped[Category | None] = relationship()
    party_community: Mapped[Community | None] = relationship(foreign_keys=[party_community_id])
    party_site: Mapped[Site | None] = relationship(foreign_keys=[party_site_id])
    duplicate_of: Mapped[Finding | None] = relationship(remote_side=[id])
    photos: Mapped[list[Photo]] = relationship(
        back_populates="finding", order_by="Photo.position", foreign_keys="Photo.finding_id"
    )
    events: Mapped[list[Event]] = relationship(back_populates="finding", order_by="Event.id")

    def __repr__(self) -> str:
        return f"<Finding {self.uuid} {self.status}>"


class PhotoKind(str, enum.Enum):
    before = "before"
    after = "after"
    evidence = "evidence"  # a duplicate's photos, attached to the finding it duplicates


class Photo(CreatedAtMixin, db.Model):
    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_unattached_created", "finding_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    kind: Mapped[str | None] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # What the phone sent (evidence) and what we store: the master's hash is its storage key.
    received_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(40))
    byte_size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    phash: Mapped[str | None] = mapped_column(String(16))
    # Content-addressed derivatives (storage keys): the clean 1280 px view, the 320 px thumbnail and,
    # once attached to a finding, the view with the time/place watermark burned in.
    view_sha256: Mapped[str | None] = mapped_column(String(64))
    thumb_sha256: Mapped[str | None] = mapped_column(String(64))
    marked_sha256: Mapped[str | None] = mapped_column(String(64))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    finding: Mapped[Finding | None] = relationship(back_populates="photos", foreign_keys=[finding_id])
    uploader: Mapped[User] = relationship()


class Event(db.Model):
    """Append-only audit trail: every change to a finding, who made it and why."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict | None] = mapped_column(JSON)
    # Actions from phones are idempotent by the client's UUID.
    action_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    payload_hash: Mapped[str | None] = mapped_column(String(64))

    finding: Mapped[Finding] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()
    photos: Mapped[list[Photo]] = relationship(foreign_keys=[Photo.event_id], order_by="Photo.position")
