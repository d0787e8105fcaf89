"""Query-string parsing for the report pages: strings in, typed values or a clear 400 out."""
from __future__ import annotations

from datetime import date

from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ..services.errors import BadRequest
from ..services.reports import FindingFilter, Period, local_today

PERIOD_CHOICES = (7, 30, 90)
DEFAULT_DAYS = 30


def parse_date(value: str | None, name: str, default: date | None = None) -> date:
    if value is None or value == "":
        if default is None:
            raise BadRequest(_("缺少日期。"), fields={name: _("请填写日期")})
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(_("日期格式不对：%(v)s（应为 YYYY-MM-DD）。", v=value[:40]),
                         fields={name: _("日期格式应为 YYYY-MM-DD")}) from None


def parse_id(args: MultiDict, name: str) -> int | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        raise BadRequest(_("参数 %(name)s 应为编号。", name=name), fields={name: _("应为编号")})
    return int(value)


def parse_choice(args: MultiDict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = args.get(name) or default
    if value not in choices:
        raise BadRequest(_("参数 %(name)s 只能是：%(choices)s。", name=name, choices=" / ".join(choices)),
                         fields={name: _("取值无效")})
    return value


def parse_period(args: MultiDict) -> Period:
    """``from``/``to`` (local dates) when given, else the last ``days`` days (7/30/90) up to today."""
    today = local_today()
    if args.get("from") or args.get("to"):
        last = parse_date(args.get("to"), "to", default=today)
        first = parse_date(args.get("from"), "from", default=last)
        return Period(first, last)
    days = args.get("days", str(DEFAULT_DAYS))
    if not days.isdigit() or int(days) not in PERIOD_CHOICES:
        raise BadRequest(_("天数只能是 7、30 或 90。"), fields={"days": _("取值无效")})
    return Period.last_days(int(days), today)


def parse_filter(args: MultiDict) -> FindingFilter:
    status = args.get("status") or None
    kind = args.get("kind") or None
    return FindingFilter(
        period=parse_period(args), street_id=parse_id(args, "street"), community_id=parse_id(args, "community"),
        category_id=parse_id(args, "category"), status=status, kind=kind, site_id=parse_id(args, "site"),
    )


def chat_limit() -> int:
    return int(current_app.config.get("REPORT_CHAT_MAX_CHARS", 2000))
