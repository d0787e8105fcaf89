"""/reports/daily: the evening report as a page to copy from and print, as chat text, and as XLSX."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.decorators import role_required
from ..models import Role
from ..services.daily_report import build_daily_report
from ..services.daily_report_text import chat_parts, short_time, summary, title
from ..services.daily_report_xlsx import daily_report_xlsx
from ..services.errors import BadRequest
from ..services.reports import STATUS_LABELS, local_today, local_tz, status_label, street_choices
from . import bp
from .common import FindingLinks, ThumbUrls
from .params import chat_limit, parse_choice, parse_date, parse_id

REPORT_ROLES = (Role.leader, Role.desk, Role.admin)


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
    # URLs for every problem built here in one pass: thousands of calls from the template cost more.
    thumb_url, finding_link = ThumbUrls(), FindingLinks()
    thumbs, links = {}, {}
    for item in (*report.fixed, *report.still_open):
        if item.thumb is not None:
            thumbs[item.finding_id] = thumb_url(item.thumb)
        links[item.finding_id] = finding_link(item.uuid, item.finding_id)

    def when(value, fmt="%m-%d %H:%M"):
        return value.astimezone(tz).strftime(fmt) if value is not None else ""

    args = {"date": day.isoformat()}
    if street_id is not None:
        args["street"] = str(street_id)
    return render_template(
        "reports/daily.html", report=report, parts=parts, limit=chat_limit(), title=title(report),
        summary=summary(report), generated=short_time(report.generated_at), streets=street_choices(user),
        street_id=street_id, day=day, thumbs=thumbs, links=links,
        labels={s: status_label(s) for s in STATUS_LABELS}, when=when, text_url=url_for("reports.daily", format="text", **args),
        xlsx_url=url_for("reports.daily", format="xlsx", **args),
    )
