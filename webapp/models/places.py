"""Street (街道) → Community (社区) → Site (点位) → market Zone (分区)."""
from __future__ import annotations

import enum

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import CreatedAtMixin, RetirableMixin


class SiteKind(str, enum.Enum):
    residential = "residential"  # 小区/家属院
    market = "market"  # 市场/早市
    back_lane = "back_lane"  # 背街小巷
    commercial_street = "commercial_street"  # 商业街
    shop_frontage = "shop_frontage"  # 门店
    station_area = "station_area"  # 车站周边
    public_toilet = "public_toilet"  # 公厕
    other = "other"


class Street(CreatedAtMixin, RetirableMixin, db.Model):
    __tablename__ = "streets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    communities: Mapped[list[Community]] = relationship(back_populates="street", order_by="Community.name")

    def __repr__(self) -> str:
        return f"<Street {self.name}>"


class Community(CreatedAtMixin, RetirableMixin, db.Model):
    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("street_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    street: Mapped[Street] = relationship(back_populates="communities")
    sites: Mapped[list[Site]] = relationship(back_populates="community", order_by="Site.name")

    def __repr__(self) -> str:
        return f"<Community {self.name}>"


class Site(CreatedAtMixin, RetirableMixin, db.Model):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), default=SiteKind.other.value)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    community: Mapped[Community] = relationship(back_populates="sites")
    zones: Mapped[list[Zone]] = relationship(back_populates="site", order_by="Zone.sort_order")

    @property
    def is_market(self) -> bool:
        return self.kind == SiteKind.market.value

    def __repr__(self) -> str:
        return f"<Site {self.name}>"


class Zone(CreatedAtMixin, RetirableMixin, db.Model):
    """A market's zone (果蔬区, 水产品区, 活禽区 …): zoning problems are acknowledged where they happened."""

    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    site: Mapped[Site] = relationship(back_populates="zones")
