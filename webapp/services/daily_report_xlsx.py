"""The daily report as a workbook for the paper file: a summary sheet (one row per community, as the
chat text counts them), every finding of the day one row each, and the earlier overdue problems."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask_babel import gettext as _
from sqlalchemy import select

from ..models import Community, Finding, User
from ..scope import finding_filter
from .daily_report import DailyReport, ProblemItem, iter_earlier_overdue
from .daily_report_text import short_time, title
from .exports import finding_columns, iter_finding_rows, new_workbook, write_table, xlsx_bytes
from .reports import STATUS_LABELS, local_day_bounds, local_tz, status_label


EARLIER_SHEET_LIMIT = 2000


def summary_header() -> list[str]:
    return [_("街道"), _("社区"), _("检查点位"), _("卫生尚可"), _("问题（已立案）"), _("已整改"), _("逾期整改"),
            _("未整改"), _("已超期"), _("待审核")]


def summary_rows(report: DailyReport) -> list[list]:
    keys = ("sites_checked", "sites_ok", "problems", "fixed", "fixed_late", "open", "open_overdue", "pending")
    rows = [[c.street_name, c.name, *(getattr(c, k) for k in keys)] for c in report.communities]
    rows.append([_("合计"), None, *(report.total(k) for k in keys)])
    return rows


def _problem_rows(items: Iterable[ProblemItem]) -> Iterator[tuple]:
    tz = local_tz()
    labels = {status: status_label(status) for status in STATUS_LABELS}  # translated once, not per row

    def local(value):
        return value.astimezone(tz).replace(tzinfo=None) if value is not None else None

    for item in items:
        yield (item.uuid, local(item.captured_at), item.where, item.phrase, labels.get(item.status, item.status),
               local(item.deadline))


def daily_report_xlsx(user: User, report: DailyReport) -> bytes:
    """Workbook bytes (a day's report is at most some 10,000 rows: built in memory, write-only)."""
    workbook = new_workbook()
    preface = [[title(report)], [_("生成时间：%(t)s（整改情况截至此时）", t=short_time(report.generated_at))], []]
    write_table(workbook, _("汇总"), summary_header(), summary_rows(report),
                widths={1: 14, 2: 18}, preface=preface)

    start, end = local_day_bounds(report.day)
    street_ids = [s.id for s in report.streets]
    where = [
        finding_filter(user), Finding.captured_at >= start, Finding.captured_at < end,
        Finding.community_id.in_(select(Community.id).where(Community.street_id.in_(street_ids))),
    ]
    write_table(workbook, _("明细"), finding_columns(), iter_finding_rows(where, now=report.generated_at),
                widths={1: 38, 2: 17, 3: 12, 4: 14, 5: 24, 8: 18, 9: 40, 10: 30, 13: 17, 14: 17, 15: 17, 16: 17})
    # The paper file lists the earlier overdue problems up to a point; past it, the finding export
    # (filtered by status and date) has them all — a sheet of tens of thousands helps nobody.
    earlier = list(_problem_rows(iter_earlier_overdue(user, report, EARLIER_SHEET_LIMIT)))
    if report.earlier_overdue_total > len(earlier):
        earlier.append((_("……另有%(n)s条，请用问题清单导出查看全部。", n=report.earlier_overdue_total - len(earlier)),))
    write_table(workbook, _("往日超期未整改"), [_("编号"), _("发现时间"), _("地点"), _("问题描述"), _("状态"),
                                           _("整改期限")], earlier, widths={1: 38, 2: 17, 3: 30, 4: 40, 6: 17})
    return xlsx_bytes(workbook)
