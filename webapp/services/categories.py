"""The problem categories of the campaign, as the seed page names them, and their upsert."""
from __future__ import annotations

from typing import NamedTuple

from flask_babel import get_locale
from flask_babel.speaklater import LazyString
from sqlalchemy import select

from ..extensions import db
from ..models import Category, DeadlineUnit, RoutesTo

# Category families: code → (zh, en).
FAMILIES: dict[str, tuple[str, str]] = {
    "environment": ("市容环境", "City appearance"),
    "street_order": ("街面秩序", "Street order"),
    "publicity": ("宣传广告", "Notices and posters"),
    "facilities": ("设施", "Facilities"),
    "market": ("市场秩序", "Market order"),
    "pests": ("病媒防制", "Pest control"),
    "staffing": ("人员到岗", "Staff on duty"),
}



def _family_name(zh: str, en: str) -> str:
    return en if str(get_locale()).startswith("en") else zh


# Family names are data in both languages (like category names), picked when the label is shown.
FAMILY_LABELS: dict[str, LazyString] = {code: LazyString(_family_name, zh, en) for code, (zh, en) in FAMILIES.items()}


class CategorySpec(NamedTuple):
    code: str
    name_zh: str
    name_en: str
    family: str
    unit: DeadlineUnit = DeadlineUnit.same_day
    value: int = 0
    routes_to: RoutesTo = RoutesTo.community


# Order is the capture screen's default order before usage statistics take over.
CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("shop_outside", "店外摆放/占道经营", "Goods outside shop / street trading", "street_order"),
    CategorySpec("clutter", "乱堆乱放", "Piled-up clutter", "environment"),
    CategorySpec("litter", "散落垃圾", "Scattered litter", "environment"),
    CategorySpec("leaves_water", "落叶/积水", "Fallen leaves / standing water", "environment"),
    CategorySpec("bin_overflow", "垃圾箱满溢/异味", "Overflowing or smelly bin", "environment"),
    CategorySpec("flyposting", "乱贴乱画", "Flyposting / graffiti", "publicity"),
    CategorySpec("hanging", "乱拉乱挂", "Wires and banners strung up", "street_order"),
    CategorySpec("illegal_structure", "乱搭乱建", "Unauthorised structure", "street_order", DeadlineUnit.days, 7),
    CategorySpec("frontage_duties", "门前五包未落实", "Shopfront duties (门前五包) not kept", "street_order"),
    CategorySpec("small_shop_hygiene", "五小门店卫生", "Small shop hygiene (五小门店)", "environment"),
    CategorySpec("market_zoning", "市场分区不规范", "Market zoning not kept", "market", routes_to=RoutesTo.market),
    CategorySpec("poultry_open", "活禽/屠宰区未密闭", "Live-poultry / slaughter area not enclosed", "market",
                 routes_to=RoutesTo.market),
    CategorySpec("pests", "病媒生物(蚊蝇鼠)", "Pests (flies, mosquitoes, rats)", "pests"),
    CategorySpec("toilet", "公厕/旱厕卫生", "Public / dry toilet hygiene", "facilities"),
    CategorySpec("sewer_blocked", "下水道堵塞", "Blocked drain", "facilities", DeadlineUnit.days, 2),
    CategorySpec("road_damage", "路面破损", "Damaged road surface", "facilities", DeadlineUnit.days, 3),
    CategorySpec("accessibility", "无障碍设施", "Accessibility facilities", "facilities", DeadlineUnit.days, 3),
    CategorySpec("noticeboard_missing", "宣传栏缺失", "Health noticeboard missing", "publicity", DeadlineUnit.days, 3),
    CategorySpec("staff_absent", "人员未到岗", "Staff not at post", "staffing"),
)


def ensure_categories() -> int:
    """Insert the campaign's categories that are missing (by code); returns how many were added.

    Existing rows are left as an administrator may have edited them.
    """
    existing = set(db.session.scalars(select(Category.code)))
    added = 0
    for order, spec in enumerate(CATEGORIES):
        if spec.code in existing:
            continue
        db.session.add(
            Category(
                code=spec.code, name_zh=spec.name_zh, name_en=spec.name_en, family=spec.family,
                deadline_unit=spec.unit.value, deadline_value=spec.value, routes_to=spec.routes_to.value,
                sort_order=order,
            )
        )
        added += 1
    return added
