"""What every page's template needs: the role-aware navigation and local-time formatting."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .models import Role

# (endpoint, label, roles that see it)
NAV = (
    ("capture.index", _l("采集"), (Role.inspector,)),
    ("review.queue", _l("审核"), (Role.desk, Role.admin)),
    ("tasks.index", _l("任务"), (Role.manager, Role.community)),
    ("tasks.verify", _l("核查"), (Role.inspector,)),
    ("reports.dashboard", _l("统计"), (Role.leader, Role.desk, Role.admin)),
    ("admin.index", _l("管理"), (Role.admin,)),
)

# Later blueprints add their own counts here (endpoint → callable(user) -> int).
BADGE_COUNTERS: dict[str, callable] = {}


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config["LOCAL_TIMEZONE"])).strftime(fmt)


def category_name(category) -> str:
    """A category in the reader's language: categories are data with both names, not gettext strings."""
    return category.name(str(get_locale())) if category is not None else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(category_name, "category_name")

    @app.context_processor
    def navigation():
        items = []
        if current_user.is_authenticated:
            for endpoint, label, roles in NAV:
                if current_user.has_role(*roles):
                    counter = BADGE_COUNTERS.get(endpoint)
                    items.append({"endpoint": endpoint, "label": label, "badge": counter(current_user) if counter else 0})
        return {"nav_items": items, "html_lang": "en" if str(get_locale()).startswith("en") else "zh-CN"}
