"""/reports/daily: the evening report as a page to copy from and print, as chat text, and as XLSX."""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from ..auth.decorators import role_required
from ..models import Role
from ..services.daily_report import DailyReport, build_daily_report
from ..services.daily_report_text import chat_parts, short_time, summary, title
from ..services.daily_report_xlsx import daily_report_xlsx
from ..services.errors import BadRequest
from ..services.reports import STATUS_LABELS, local_today, local_tz, status_label, street_choices
from . import bp
from .common import FindingLinks, ThumbUrls
from .params import chat_limit, parse_choice, parse_date, parse_id

REPORT_ROLES = (Role.leader, Role.desk, Role.admin)
_MARKUP_CHARS = re.compile(r"[&<>\"']")


@bp.route("/daily")
@role_required(*REPORT_ROLES)
def daily():
    fmt = parse_choice(request.args, "format", ("html", "text", "xlsx"), "html")
    day = parse_date(request.args.get("date"), "date", default=local_today())
    street_id = parse_id(request.args, "street")
    user = current_user._get_current_object()
    report = build_daily_report(user, day, street_id, photos=fmt == "html")
    parts = chat_parts(report, chat_limit()) if fmt != "xlsx" else []

    if fmt == "text":
        part = parse_id(request.args, "part")
        if part is not None:
            if not 1 <= part <= len(parts):
                raise BadRequest(_("共 %(n)s 段，没有第 %(p)s 段。", n=len(parts), p=part), fields={"part": _("超出范围")})
            parts = [parts[part - 1]]
        return Response("\n\n".join(parts) + "\n", mimetype="text/plain; charset=utf-8",
                        headers={"X-Report-Parts": str(len(parts)), "Cache-Control": "no-store"})

    place = report.title_place or _("全部街道")
    if fmt == "xlsx":
        name = f"{_('督导通报')}-{place}-{day.isoformat()}.xlsx"
        return Response(
            daily_report_xlsx(user, report),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f"attachment; filename=\"report-{day.isoformat()}.xlsx\"; "
                                            f"filename*=UTF-8''{quote(name)}",
                     "Cache-Control": "no-store"},
        )

    tz = local_tz()
    labels = {s: status_label(s) for s in STATUS_LABELS}
    rows = table_rows(report, labels, ThumbUrls(), FindingLinks())

    def when(value, fmt="%m-%d %H:%M"):
        return value.astimezone(tz).strftime(fmt) if value is not None else ""

    args = {"date": day.isoformat()}
    if street_id is not None:
        args["street"] = str(street_id)
    return render_template(
        "reports/daily.html", report=report, parts=parts, chat=chat_boxes(parts), limit=chat_limit(),
        title=title(report), summary=summary(report), generated=short_time(report.generated_at),
        streets=street_choices(user), street_id=street_id, day=day, rows=rows, labels=labels, when=when,
        text_url=url_for("reports.daily", format="text", **args), xlsx_url=url_for("reports.daily", format="xlsx", **args),
    )


def chat_boxes(parts: list[str]) -> list[dict]:
    """Each chat message with its heading and label. A busy day is over a hundred messages, and
    a translation call in the template costs more than the rest of a message's markup: the words
    are translated once here."""
    numbered, length, label = _("第 %(i)s/%(n)s 段"), _("%(n)s 字"), _("群消息第 %(i)s 段")
    boxes = []
    for i, part in enumerate(parts, 1):
        heading = length % {"n": len(part)}
        if len(parts) > 1:
            heading = f"{numbered % {'i': i, 'n': len(parts)}} · {heading}"
        boxes.append({"text": part, "heading": heading, "label": label % {"i": i},
                      "rows": min(part.count("\n") + 1, 14)})
    return boxes


def table_rows(report: DailyReport, labels: dict[str, str], thumb_url: ThumbUrls,
               finding_link: FindingLinks) -> dict[int, Markup]:
    """The printed page's table rows per community: each site line with the thumbnail and the linked
    status of every problem on it.

    A busy day has thousands of lines and problems. In the template that is a dozen expressions
    per problem and per line, most of the page's time; here a line is one format and a problem a
    few joins. Every value from the database is escaped; only the constant markup is not.
    """
    late_words = {True: str(escape(_("逾期"))), False: str(escape(_("超期")))}  # fixed late / still overdue
    escaped: dict[str, str] = {}

    def esc(value: str) -> str:
        text = escaped.get(value)
        if text is None:
            text = escaped[value] = str(escape(value))
        return text

    def url(value: str) -> str:  # a URL of uuids and hashes rarely needs escaping: look before escaping
        return str(escape(value)) if _MARKUP_CHARS.search(value) else value

    # (status, late, fixed) -> the span's opening, its end after a link, its end without one
    status_parts: dict[tuple, tuple[str, str, str]] = {}
    for status, label in labels.items():
        for late in (False, True):
            for fixed in (False, True):
                mark = f'<span class="late-mark">{late_words[fixed]}</span>' if late else ""
                classes = "report-status" + (" is-late" if late else "") + (" is-fixed" if fixed else "")
                status_parts[(status, late, fixed)] = (f'<span class="{classes}">', f"{esc(label)}</a>{mark}</span>",
                                                       f"{esc(label)}{mark}</span>")
    no_site = str(escape("—"))
    rows: dict[int, Markup] = {}
    for block in report.communities:
        out = []
        for line in block.lines:
            photos, statuses = [], []
            for p in line.problems:
                if p.thumb is not None and (src := thumb_url(*p.thumb)):
                    photos.append(f'<img class="report-thumb" src="{url(src)}" alt="{esc(p.phrase)}" '
                                  'loading="lazy" width="96" height="72">')
                key = (p.status, p.late, p.fixed)
                parts = status_parts.get(key)
                if parts is None:  # a status without a label: its own name
                    parts = status_parts[key] = ('<span class="report-status">', f"{esc(p.status)}</a></span>",
                                                 f"{esc(p.status)}</span>")
                href = finding_link(p.uuid, p.finding_id)
                statuses.append(f'{parts[0]}<a href="{url(href)}">{parts[1]}' if href else parts[0] + parts[2])
            out.append(f'<tr class="{"line-ok" if line.ok else "line-problem"}">'
                       f'<td class="col-site">{esc(line.label) if line.label else no_site}</td>'
                       f'<td>{escape(line.verdict)}</td><td class="col-photo">{"".join(photos)}</td>'
                       f'<td class="col-status">{"".join(statuses)}</td></tr>\n')
        rows[block.id] = Markup("".join(out))
    return rows
