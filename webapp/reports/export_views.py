"""Downloads: any filtered finding list and the league table, as CSV (UTF-8 with BOM) or XLSX.

Finding lists stream (generator responses), so a million rows never sit in memory; every check that
can fail (dates, scope, size) runs before the first byte is sent, so errors are still a clean 4xx.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Response, request
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.decorators import role_required
from ..services import dashboard as dash
from ..services import exports
from ..services.errors import BadRequest
from ..services.reports import FindingFilter, resolve_filter
from . import bp
from .daily import REPORT_ROLES
from .params import parse_filter
from .views import parse_sort

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body, mimetype: str, stem: str, flt: FindingFilter, ext: str) -> Response:
    name = f"{stem}-{flt.period.first.isoformat()}-{flt.period.last.isoformat()}.{ext}"
    ascii_name = f"export-{flt.period.first.isoformat()}-{flt.period.last.isoformat()}.{ext}"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })


@bp.route("/findings.csv")
@role_required(*REPORT_ROLES)
def findings_csv():
    user = current_user._get_current_object()
    flt = parse_filter(request.args)
    header, rows = exports.filtered_rows(user, flt)
    # Plain generators (no request context needed): rows on their own connection, words translated already.
    return _download(exports.csv_stream(header, rows), CSV_TYPE, _("问题清单"), flt, "csv")


@bp.route("/findings.xlsx")
@role_required(*REPORT_ROLES)
def findings_xlsx():
    user = current_user._get_current_object()
    flt = parse_filter(request.args)
    resolve_filter(user, flt)
    if exports.count_rows(user, flt) > exports.XLSX_MAX_ROWS:
        raise BadRequest(_("超过 Excel 单表行数上限，请缩小范围或下载 CSV。"))
    header, rows = exports.filtered_rows(user, flt)
    sheet_name = _("问题清单")  # translated here: the workbook is written after the view returns

    def build(workbook):
        exports.write_table(workbook, sheet_name, header, rows,
                            widths={1: 38, 2: 17, 4: 14, 5: 24, 8: 18, 9: 40, 10: 30})

    return _download(exports.xlsx_stream(build), XLSX_TYPE, sheet_name, flt, "xlsx")


def league_header() -> list[str]:
    return [_("街道"), _("社区"), _("问题记录"), _("立案"), _("派遣"), _("按期整改"), _("按期整改率（%）"),
            _("当前超期"), _("累计超期"), _("平均整改时长（小时）"), _("重复点位"), _("已核查")]


def league_rows(rows, total) -> list[list]:
    def line(r, street, name):
        return [street, name, r.findings, r.accepted, r.dispatched, r.on_time,
                round(r.on_time_rate * 100, 1) if r.on_time_rate is not None else None,
                r.overdue_now, r.overdue_total, round(r.avg_hours, 1) if r.avg_hours is not None else None,
                r.repeat_sites, r.verified]

    return [line(r, r.street_name, r.name) for r in rows] + [line(total, _("合计"), "")]


def _league(user):
    flt = parse_filter(request.args)
    sort, descending = parse_sort()
    resolve_filter(user, flt)
    rows, total = dash.league_table(user, flt, sort=sort, descending=descending)
    return flt, league_rows(rows, total)


@bp.route("/league.csv")
@role_required(*REPORT_ROLES)
def league_csv():
    flt, rows = _league(current_user._get_current_object())
    return _download(exports.csv_stream(league_header(), rows), CSV_TYPE, _("社区排名"), flt, "csv")


@bp.route("/league.xlsx")
@role_required(*REPORT_ROLES)
def league_xlsx():
    flt, rows = _league(current_user._get_current_object())

    def build(workbook):
        exports.write_table(workbook, _("社区排名"), league_header(), rows, widths={1: 14, 2: 18})

    return _download(exports.xlsx_stream(build), XLSX_TYPE, _("社区排名"), flt, "xlsx")
