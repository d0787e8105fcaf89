"""Problem categories (问题类别) and their rectification deadline rules."""
from __future__ import annotations

import enum

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .mixins import CreatedAtMixin, RetirableMixin


class DeadlineUnit(str, enum.Enum):
    same_day = "same_day"  # 一日一清: end of the local day the finding was dispatched
    hours = "hours"
    days = "days"  # end of the local day N days after dispatch


class RoutesTo(str, enum.Enum):
    community = "community"
    market = "market"  # the market's manager


class Category(CreatedAtMixin, RetirableMixin, db.Model):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    family: Mapped[str] = mapped_column(String(40))
    deadline_unit: Mapped[str] = mapped_column(String(10), default=DeadlineUnit.same_day.value)
    deadline_value: Mapped[int] = mapped_column(Integer, default=0)
    routes_to: Mapped[str] = mapped_column(String(20), default=RoutesTo.community.value)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    def name(self, locale: str | None) -> str:
        return self.name_en if (locale or "").startswith("en") else self.name_zh

    def __repr__(self) -> str:
        return f"<Category {self.code}>"
