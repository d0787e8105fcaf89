"""Small helpers shared by the console's views: service errors onto forms, paging, place trees."""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, select

from ..extensions import db
from ..models import Community, Site, SiteKind, Street
from ..services.errors import ServiceError

PAGE_SIZE = 50


def apply_errors(form: FlaskForm, err: ServiceError) -> list[str]:
    """Put a service's per-field messages on the form's fields; return the ones no field shows."""
    leftover = []
    for name, messages in (err.fields or {}).items():
        messages = messages if isinstance(messages, list) else [messages]
        if name in form._fields:
            form[name].errors = list(form[name].errors or []) + [str(m) for m in messages]
        else:
            leftover.extend(str(m) for m in messages)
    if not err.fields:
        leftover.append(err.message)
    return leftover


@dataclass
class Page:
    items: list
    page: int
    pages: int
    total: int


def paginate(stmt: Select, page_size: int = PAGE_SIZE) -> Page:
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.session.scalars(stmt.limit(page_size).offset((page - 1) * page_size)))
    return Page(items, page, max(1, ceil(total / page_size)), total)


def place_tree(include_retired: bool = True) -> list[Street]:
    """Streets with communities and sites loaded, for pickers and the places page, in name order."""
    stmt = select(Street).order_by(Street.retired_at.is_not(None), Street.name)
    if not include_retired:
        stmt = stmt.where(Street.retired_at.is_(None))
    return list(db.session.scalars(stmt))


def market_sites() -> list[Site]:
    return list(db.session.scalars(
        select(Site).join(Community).join(Street)
        .where(Site.kind == SiteKind.market.value)
        .order_by(Street.name, Community.name, Site.name)))


def int_arg(name: str) -> int | None:
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        return None


# How the audit trail reads: action codes and snapshot keys in words an office uses.
ACTION_LABELS = {
    "user.create": _l("新建用户"), "user.update": _l("修改用户"), "user.disable": _l("停用用户"),
    "user.enable": _l("启用用户"), "user.reset_password": _l("重置密码"), "user.change_password": _l("本人改密码"),
    "user.set_locale": _l("本人改语言"), "token.revoke": _l("吊销令牌"),
    "street.create": _l("新建街道"), "community.create": _l("新建社区"), "site.create": _l("新建点位"),
    "zone.create": _l("新建分区"), "site.update": _l("修改点位"), "places.import": _l("导入地点"),
    "category.create": _l("新建类别"), "category.update": _l("修改类别"), "category.move": _l("调整类别顺序"),
    "webhook.create": _l("接入群机器人"), "webhook.update": _l("修改群机器人"), "webhook.delete": _l("移除群机器人"),
    "notice.test": _l("发送测试消息"), "notice.resend": _l("重发通知"),
    **{f"{kind}.{verb}": label for kind in ("street", "community", "site", "zone", "category")
       for verb, label in (("rename", _l("改名")), ("retire", _l("停用")), ("restore", _l("恢复")))},
}
FIELD_LABELS = {
    "username": _l("用户名"), "display_name": _l("姓名"), "locale": _l("语言"), "disabled": _l("停用"),
    "must_change_password": _l("须改密码"), "roles": _l("角色"), "streets": _l("街道"), "communities": _l("社区"),
    "sites": _l("市场"), "password": _l("密码"), "revoked": _l("已吊销"), "name": _l("名称"), "street": _l("街道"),
    "community": _l("社区"), "site": _l("点位"), "kind": _l("类型"), "address": _l("地址"), "latitude": _l("纬度"),
    "longitude": _l("经度"), "active": _l("在用"), "code": _l("代码"), "name_zh": _l("中文名称"),
    "name_en": _l("英文名称"), "family": _l("分组"), "deadline_unit": _l("期限单位"), "deadline_value": _l("期限数值"),
    "routes_to": _l("派给"), "sort_order": _l("顺序"), "url_hint": _l("机器人地址"), "secret": _l("加签密钥"),
    "enabled": _l("启用"), "notify_dispatch": _l("派遣通知"), "overdue_times": _l("逾期提醒时间"),
    "report_time": _l("通报时间"), "status": _l("状态"), "queued": _l("已排队"), "rows": _l("行数"),
    "updated_sites": _l("更新点位"), "unchanged_sites": _l("未变点位"),
}


def value_labels() -> dict[str, dict]:
    """Per snapshot key, the words for stored codes (role "manager" → 市场管理员)."""
    from ..services.admin import ROLE_LABELS
    from ..services.categories import FAMILY_LABELS
    from .forms import DEADLINE_UNIT_LABELS, ROUTES_TO_LABELS, SITE_KIND_LABELS, WEBHOOK_KIND_LABELS

    return {"roles": ROLE_LABELS, "kind": {**SITE_KIND_LABELS, **WEBHOOK_KIND_LABELS},
            "deadline_unit": DEADLINE_UNIT_LABELS, "routes_to": ROUTES_TO_LABELS,
            "family": FAMILY_LABELS,
            "locale": {"zh_CN": "中文", "en": "English"}}
