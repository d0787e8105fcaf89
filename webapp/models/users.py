"""Users, their roles and scopes, and hashed API tokens."""
from __future__ import annotations

import enum
import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .mixins import CreatedAtMixin, UTCDateTime
from .places import Community, Site, Street


class Role(str, enum.Enum):
    inspector = "inspector"  # 督导员
    desk = "desk"  # 内勤/审核
    manager = "manager"  # market manager, scoped to market sites
    community = "community"  # community staff, scoped to communities
    leader = "leader"  # read-only, scoped to streets
    admin = "admin"


user_streets = Table(
    "user_streets",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("street_id", ForeignKey("streets.id"), primary_key=True),
)
user_communities = Table(
    "user_communities",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("community_id", ForeignKey("communities.id"), primary_key=True),
)
user_sites = Table(
    "user_sites",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id"), primary_key=True),
)


class UserRole(db.Model):
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class User(UserMixin, CreatedAtMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(256))
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)

    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    streets: Mapped[list[Street]] = relationship(secondary=user_streets, lazy="selectin")
    communities: Mapped[list[Community]] = relationship(secondary=user_communities, lazy="selectin")
    sites: Mapped[list[Site]] = relationship(secondary=user_sites, lazy="selectin")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def roles(self) -> set[str]:
        return {r.role for r in self.role_rows}

    def set_roles(self, roles) -> None:
        wanted = {Role(r).value for r in roles}
        self.role_rows = [r for r in self.role_rows if r.role in wanted]
        for role in wanted - self.roles:
            self.role_rows.append(UserRole(role=role))

    def has_role(self, *roles: str | Role) -> bool:
        names = {Role(r).value for r in roles}
        return bool(self.roles & names)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return not self.disabled

    def __repr__(self) -> str:
        return f"<User {self.username}>"


def hash_token(raw: str) -> str:
    """Tokens are random 256-bit strings, so a fast hash is enough; only the hash is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(CreatedAtMixin, db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user: Mapped[User] = relationship(back_populates="tokens")
