"""The dashboard (league table, trend, rectification times, hot spots), inspector activity, the
market view and a site's history. Parse → service → template; scope is the services' job."""
from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.decorators import role_required
from ..services import activity, dashboard as dash
from ..services.categories import FAMILIES
from ..services.errors import BadRequest
from ..services.reports import (
    STATUS_LABELS, FindingFilter, category_choices, community_choices, resolve_filter, status_label, street_choices,
)
from . import bp, charts
from .common import FindingLinks
from .daily import REPORT_ROLES
from .params import PERIOD_CHOICES, parse_choice, parse_filter


def family_label(code: str) -> str:
    names = FAMILIES.get(code)
    if names is None:
        return _("其他")
    return names[1] if str(get_locale()).startswith("en") else names[0]


def parse_sort() -> tuple[str, bool]:
    sort = request.args.get("sort") or "on_time_rate"
    if sort not in dash.SORT_KEYS:
        raise BadRequest(_("不能按 %(s)s 排序。", s=sort[:40]), fields={"sort": _("取值无效")})
    return sort, parse_choice(request.args, "dir", ("asc", "desc"), "asc" if sort == "name" else "desc") == "desc"


def filter_context(user, flt: FindingFilter, endpoint: str) -> dict:
    """What the shared filter form needs: the choices in scope and the current selection."""
    resolved = resolve_filter(user, flt)
    return {
        "flt": flt, "resolved": resolved, "endpoint": endpoint, "period_choices": PERIOD_CHOICES,
        "days_selected": request.args.get("days") if not (request.args.get("from") or request.args.get("to")) else "",
        "streets": street_choices(user), "communities": community_choices(user, flt.street_id),
        "categories": category_choices(), "statuses": STATUS_LABELS, "status_label": status_label,
        "filter_args": flt.query_args(),
    }


@bp.route("/")
@role_required(*REPORT_ROLES)
def dashboard():
    user = current_user._get_current_object()
    flt = parse_filter(request.args)
    sort, descending = parse_sort()
    context = filter_context(user, flt, "reports.dashboard")
    rows, total = dash.league_table(user, flt, sort=sort, descending=descending)
    trend = dash.trend(user, flt)
    series = [(code, family_label(code), trend.counts[code]) for code in trend.families]
    distribution = dash.rectify_distribution(user, flt)
    labels = {"0-2h": _("2小时内"), "2-4h": _("2–4小时"), "4-8h": _("4–8小时"), "8-24h": _("8–24小时"),
              "1-3d": _("1–3天"), "3d+": _("3天以上")}
    distribution_labels = [(labels[key], n) for key, n in distribution]

    def sort_url(key: str) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("sort", "dir")}
        desc = not (sort == key and descending) if key != "name" else (sort == key and not descending)
        return url_for("reports.dashboard", sort=key, dir="desc" if desc else "asc", **args)

    return render_template(
        "reports/dashboard.html", rows=rows, total=total, sort=sort, descending=descending, sort_url=sort_url,
        trend=trend, series=series, day_totals=trend.day_totals(),
        trend_svg=charts.stacked_bars(trend.days, series, _("每日问题数（按类别）")),
        distribution=distribution_labels,
        distribution_svg=charts.bars(distribution_labels, _("整改用时分布")),
        spots=dash.hot_spots(user, flt), **context,
    )


@bp.route("/inspectors")
@role_required(*REPORT_ROLES)
def inspectors():
    user = current_user._get_current_object()
    flt = parse_filter(request.args)
    context = filter_context(user, flt, "reports.inspectors")
    context["categories"] = []
    days, rows = activity.inspector_activity(user, flt)
    return render_template("reports/inspectors.html", days=days, rows=rows, **context)


@bp.route("/markets")
@role_required(*REPORT_ROLES)
def markets():
    user = current_user._get_current_object()
    flt = parse_filter(request.args)
    context = filter_context(user, flt, "reports.markets")
    return render_template("reports/markets.html", markets=activity.market_view(user, flt), **context)


@bp.route("/sites/<int:site_id>")
@role_required(*REPORT_ROLES)
def site(site_id: int):
    user = current_user._get_current_object()
    args = request.args.copy()
    if not (args.get("from") or args.get("to") or args.get("days")):
        args["days"] = "90"
    flt = parse_filter(args)
    resolve_filter(user, flt)
    site, findings, by_category, total = activity.site_history(user, site_id, flt)
    return render_template(
        "reports/site.html", site=site, findings=findings, by_category=by_category, total=total, flt=flt,
        status_label=status_label, finding_link=FindingLinks(),
    )
