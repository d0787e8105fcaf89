"""Place and category administration: create, rename, retire and restore, each one audited.

Places and categories are never deleted: findings, reports and the audit trail point at them, so
"removing" one means retiring it. Retired rows drop out of every pick list (the sync API's reference
endpoint and the capture screen filter ``retired_at``) while old findings keep showing their names.
Retiring a street or community retires what lies under it at the same instant, and restoring it
brings back exactly those rows, not children an admin had retired on purpose before.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..extensions import db
from ..models import Category, Community, DeadlineUnit, RoutesTo, Site, SiteKind, Street, User, Zone
from ..models.mixins import utcnow
from . import audit
from .categories import FAMILIES
from .errors import Conflict, Invalid

ENTITY_TYPE = {Street: "street", Community: "community", Site: "site", Zone: "zone", Category: "category"}
SITE_FIELDS = ("name", "kind", "address", "latitude", "longitude")
CATEGORY_FIELDS = ("code", "name_zh", "name_en", "family", "deadline_unit", "deadline_value", "routes_to",
                   "sort_order")


def _name(value: str, limit: int, field: str = "name") -> str:
    value = " ".join((value or "").split())
    if not value or len(value) > limit:
        raise Invalid(_("名称不能为空,最多 %(n)d 字。", n=limit), fields={field: [_("名称不能为空,最多 %(n)d 字。", n=limit)]})
    return value


def _unique(model, name: str, exclude_id: int | None = None, **parent) -> None:
    stmt = select(model).where(model.name == name)
    for column, value in parent.items():
        stmt = stmt.where(getattr(model, column) == value)
    clash = db.session.scalar(stmt)
    if clash is not None and clash.id != exclude_id:
        message = (_("已有同名的停用项“%(name)s”,可以恢复它。", name=name) if clash.retired_at
                   else _("已有同名的“%(name)s”。", name=name))
        raise Invalid(message, fields={"name": [message]})


def _commit() -> None:
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def create_street(actor: User, name: str) -> Street:
    name = _name(name, 100)
    _unique(Street, name)
    street = Street(name=name)
    db.session.add(street)
    db.session.flush()
    audit.record(actor, "street.create", "street", street, after={"name": name})
    _commit()
    return street


def create_community(actor: User, street: Street, name: str) -> Community:
    name = _name(name, 100)
    _unique(Community, name, street_id=street.id)
    community = Community(street=street, name=name)
    db.session.add(community)
    db.session.flush()
    audit.record(actor, "community.create", "community", community, after={"name": name, "street": street.name})
    _commit()
    return community


def rename(actor: User, entity: Street | Community | Zone, name: str) -> None:
    """Rename in place: findings keep pointing at the same row, so history shows the new name."""
    kind = ENTITY_TYPE[type(entity)]
    name = _name(name, 100)
    parent = {"street_id": entity.street_id} if isinstance(entity, Community) else (
        {"site_id": entity.site_id} if isinstance(entity, Zone) else {})
    _unique(type(entity), name, exclude_id=entity.id, **parent)
    before = {"name": entity.name}
    entity.name = name
    audit.record(actor, f"{kind}.rename", kind, entity, before=before, after={"name": name})
    _commit()


@dataclass
class SiteData:
    name: str
    kind: str = SiteKind.other.value
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None


def _site_values(data: SiteData) -> dict:
    errors: dict[str, list[str]] = {}
    try:
        name = _name(data.name, 200)
    except Invalid as err:
        errors.update(err.fields)
        name = ""
    if data.kind not in {k.value for k in SiteKind}:
        errors["kind"] = [_("未知的点位类型。")]
    address = " ".join((data.address or "").split()) or None
    if address and len(address) > 300:
        errors["address"] = [_("地址最多 300 字。")]
    lat, lon = data.latitude, data.longitude
    if (lat is None) != (lon is None):
        errors["latitude"] = [_("经纬度要同时填写,或都留空。")]
    elif lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        errors["latitude"] = [_("经纬度超出范围。")]
    if errors:
        raise Invalid(_("请检查标出的项目。"), fields=errors)
    return {"name": name, "kind": data.kind, "address": address, "latitude": lat, "longitude": lon}


def create_site(actor: User, community: Community, data: SiteData) -> Site:
    values = _site_values(data)
    _unique(Site, values["name"], community_id=community.id)
    site = Site(community=community, **values)
    db.session.add(site)
    db.session.flush()
    audit.record(actor, "site.create", "site", site, after={**values, "community": community.name})
    _commit()
    return site


def update_site(actor: User, site: Site, data: SiteData) -> Site:
    values = _site_values(data)
    _unique(Site, values["name"], exclude_id=site.id, community_id=site.community_id)
    before = audit.snapshot(site, SITE_FIELDS)
    for key, value in values.items():
        setattr(site, key, value)
    audit.record(actor, "site.update", "site", site, before=before, after=audit.snapshot(site, SITE_FIELDS))
    _commit()
    return site


def create_zone(actor: User, site: Site, name: str) -> Zone:
    name = _name(name, 100)
    _unique(Zone, name, site_id=site.id)
    order = (db.session.scalar(select(func.max(Zone.sort_order)).where(Zone.site_id == site.id)) or 0) + 1
    zone = Zone(site=site, name=name, sort_order=order)
    db.session.add(zone)
    db.session.flush()
    audit.record(actor, "zone.create", "zone", zone, after={"name": name, "site": site.name})
    _commit()
    return zone


def _children(entity) -> list:
    if isinstance(entity, Street):
        communities = list(entity.communities)
        return communities + [s for c in communities for s in _children(c)]
    if isinstance(entity, Community):
        sites = list(entity.sites)
        return sites + [z for s in sites for z in s.zones]
    if isinstance(entity, Site):
        return list(entity.zones)
    return []


def retire(actor: User, entity) -> int:
    """Retire ``entity`` and its active children at one instant; returns how many rows were retired."""
    kind = ENTITY_TYPE[type(entity)]
    if entity.retired_at is not None:
        raise Conflict(_("已经停用。"))
    now = utcnow()
    rows = [entity] + [child for child in _children(entity) if child.retired_at is None]
    for row in rows:
        row.retired_at = now
    note = _("连同下级 %(n)d 项一起停用", n=len(rows) - 1) if len(rows) > 1 else ""
    audit.record(actor, f"{kind}.retire", kind, entity, before={"active": True}, after={"active": False},
                 label=_label(entity), note=note)
    _commit()
    return len(rows)


def restore(actor: User, entity) -> int:
    """Undo a retirement: the entity and the children retired together with it come back."""
    kind = ENTITY_TYPE[type(entity)]
    if entity.retired_at is None:
        raise Conflict(_("没有停用。"))
    parent = _parent(entity)
    if parent is not None and parent.retired_at is not None:
        raise Conflict(_("上级“%(name)s”已停用,请先恢复上级。", name=parent.name))
    when = entity.retired_at
    rows = [entity] + [child for child in _children(entity) if child.retired_at == when]
    for row in rows:
        row.retired_at = None
    note = _("连同下级 %(n)d 项一起恢复", n=len(rows) - 1) if len(rows) > 1 else ""
    audit.record(actor, f"{kind}.restore", kind, entity, before={"active": False}, after={"active": True},
                 label=_label(entity), note=note)
    _commit()
    return len(rows)


def _parent(entity):
    if isinstance(entity, Community):
        return entity.street
    if isinstance(entity, Site):
        return entity.community
    if isinstance(entity, Zone):
        return entity.site
    return None


def _label(entity) -> str:
    if isinstance(entity, Category):
        return entity.name_zh
    parent = _parent(entity)
    return f"{parent.name} · {entity.name}" if parent is not None else entity.name


# ---- categories -------------------------------------------------------------------------------

@dataclass
class CategoryData:
    code: str
    name_zh: str
    name_en: str
    family: str
    deadline_unit: str = DeadlineUnit.same_day.value
    deadline_value: int = 0
    routes_to: str = RoutesTo.community.value


DEADLINE_LIMITS = {DeadlineUnit.hours.value: 720, DeadlineUnit.days.value: 90}


def _category_values(data: CategoryData, category: Category | None) -> dict:
    errors: dict[str, list[str]] = {}
    code = (data.code or "").strip().lower()
    if category is not None:
        code = category.code  # the code is what imports and exports match on; it never changes
    elif not code or len(code) > 40 or not code.replace("_", "").isalnum() or not code.isascii():
        errors["code"] = [_("代码为英文小写字母、数字或下划线,最多 40 位。")]
    elif db.session.scalar(select(Category.id).where(Category.code == code)):
        errors["code"] = [_("代码已存在。")]
    name_zh = " ".join((data.name_zh or "").split())
    name_en = " ".join((data.name_en or "").split())
    if not name_zh or len(name_zh) > 100:
        errors["name_zh"] = [_("请填写中文名称(最多 100 字)。")]
    if len(name_en) > 100:
        errors["name_en"] = [_("英文名称最多 100 字。")]
    if data.family not in FAMILIES:
        errors["family"] = [_("未知的类别分组。")]
    unit = data.deadline_unit
    value = data.deadline_value if data.deadline_value is not None else 0
    if unit == DeadlineUnit.same_day.value:
        value = 0
    elif unit in DEADLINE_LIMITS:
        if not 1 <= value <= DEADLINE_LIMITS[unit]:
            errors["deadline_value"] = [_("期限为 1–%(n)d。", n=DEADLINE_LIMITS[unit])]
    else:
        errors["deadline_unit"] = [_("未知的期限单位。")]
    if data.routes_to not in {r.value for r in RoutesTo}:
        errors["routes_to"] = [_("未知的派遣对象。")]
    if errors:
        raise Invalid(_("请检查标出的项目。"), fields=errors)
    return {"code": code, "name_zh": name_zh, "name_en": name_en or name_zh, "family": data.family,
            "deadline_unit": unit, "deadline_value": value, "routes_to": data.routes_to}


def create_category(actor: User, data: CategoryData) -> Category:
    values = _category_values(data, None)
    order = (db.session.scalar(select(func.max(Category.sort_order))) or 0) + 1
    category = Category(sort_order=order, **values)
    db.session.add(category)
    db.session.flush()
    audit.record(actor, "category.create", "category", category, after=audit.snapshot(category, CATEGORY_FIELDS),
                 label=category.name_zh)
    _commit()
    return category


def update_category(actor: User, category: Category, data: CategoryData) -> Category:
    values = _category_values(data, category)
    before = audit.snapshot(category, CATEGORY_FIELDS)
    for key, value in values.items():
        setattr(category, key, value)
    audit.record(actor, "category.update", "category", category, before=before,
                 after=audit.snapshot(category, CATEGORY_FIELDS), label=category.name_zh)
    _commit()
    return category


def move_category(actor: User, category: Category, direction: int) -> None:
    """Swap with the neighbour above (-1) or below (+1) in the capture screen's order."""
    ordered = list(db.session.scalars(select(Category).order_by(Category.sort_order, Category.id)))
    # Renumber first, so equal or missing orders from older data cannot make a swap a no-op.
    for index, row in enumerate(ordered):
        row.sort_order = index
    position = ordered.index(category)
    other = position + (1 if direction > 0 else -1)
    if not 0 <= other < len(ordered):
        return
    neighbour = ordered[other]
    before = {"sort_order": position}
    category.sort_order, neighbour.sort_order = neighbour.sort_order, category.sort_order
    audit.record(actor, "category.move", "category", category, before=before,
                 after={"sort_order": category.sort_order}, label=category.name_zh)
    _commit()
