"""Login attempts, the shared store behind login throttling.

The table lives in the application database so every gunicorn worker and every app server behind
the load balancer counts the same attempts; no extra service (Redis) is needed for it to hold.
Keys are HMACs of the normalised username or client address: what a stranger typed into the
username field (sometimes a password) and inspectors' mobile addresses are not kept in clear.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .mixins import UTCDateTime, utcnow


class LoginAttempt(db.Model):
    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_scope_key_at", "scope", "key_hash", "at"),
        Index("ix_login_attempts_at", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # "account" or "address"
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
