"""The daily report as chat text, in the style the supervision group already types by hand:

    汇金社区：
    运河路西沿儿蓬莱野生海鲜馆：店外摆放酒箱、桌椅等物品；
    王口新村：乱堆乱放（新出现一堆烂木材需要清理），个别楼下有散落垃圾；

Chat apps cap a message (WeCom/DingTalk robots at about 4,096 characters, and long messages are
unpleasant to read on a phone), so the text is split into numbered parts "（1/3）" at line
boundaries: a site's line is never cut, and a part that starts inside a community repeats the
community's name with "（续）" so each message reads on its own.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from flask_babel import force_locale
from flask_babel import gettext as _

from .daily_report import DailyReport, ProblemItem
from .reports import local_tz

DEFAULT_LIMIT = 2000


class Line(NamedTuple):  # a tuple: a busy day's report is thousands of lines
    text: str
    heading: str | None = None  # the group heading this line belongs to (repeated on a new part)
    is_heading: bool = False


def short_date(day: date | datetime) -> str:
    """"9月18日"; a datetime is taken in local time."""
    if isinstance(day, datetime):
        day = day.astimezone(local_tz()).date()
    return _("%(m)s月%(d)s日", m=day.month, d=day.day)


def short_time(value: datetime) -> str:
    local = value.astimezone(local_tz())
    return f"{short_date(local.date())} {local:%H:%M}"


def title(report: DailyReport) -> str:
    day = _("%(y)s年%(m)s月%(d)s日", y=report.day.year, m=report.day.month, d=report.day.day)
    if report.title_place:
        return _("%(place)s卫生督导通报（%(day)s）", place=report.title_place, day=day)
    return _("卫生督导通报（%(day)s）", day=day)


def summary(report: DailyReport) -> str:
    text = _("检查点位%(sites)s处，卫生尚可%(ok)s处，发现问题%(problems)s条。",
             sites=report.total("sites_checked"), ok=report.total("sites_ok"), problems=report.total("problems"))
    pending = report.total("pending")
    if pending:
        text += _("另有%(n)s条待审核，未列入。", n=pending)
    return text


def body_lines(report: DailyReport) -> list[Line]:
    lines: list[Line] = [Line(summary(report))]
    current_street = None
    for block in report.communities:
        if not block.lines:
            continue
        lines.append(Line(""))
        if report.all_streets and block.street_id != current_street:
            current_street = block.street_id
            lines.append(Line(f"【{block.street_name}】", is_heading=True))
        heading = f"{block.name}："
        lines.append(Line(heading, is_heading=True))
        for i, site in enumerate(block.lines):
            end = "。" if i == len(block.lines) - 1 else "；"
            text = f"{site.label}：{site.verdict}{end}" if site.label else f"{site.verdict}{end}"
            lines.append(Line(text, heading))
    if not any(block.lines for block in report.communities):
        lines.append(Line(_("当日没有检查记录。")))
    lines += _status_lines(report)
    return lines


def _item_line(item: ProblemItem, extra: str = "") -> str:
    return f"{item.where}：{item.phrase}{extra}；"


def _status_lines(report: DailyReport) -> list[Line]:
    as_of = short_time(report.generated_at)
    late_fixed = sum(1 for p in report.fixed if p.late)
    open_late = sum(1 for p in report.still_open if p.late)
    lines = [Line(""), Line(_("整改情况（截至%(t)s）：", t=as_of), is_heading=True)]
    text = _("当日问题%(n)s条，已整改%(fixed)s条", n=len(report.fixed) + len(report.still_open), fixed=len(report.fixed))
    if late_fixed:
        text += _("（其中逾期整改%(n)s条）", n=late_fixed)
    text += _("，未整改%(open)s条", open=len(report.still_open))
    if open_late:
        text += _("（其中已超期%(n)s条）", n=open_late)
    lines.append(Line(text + "。"))

    def section(heading: str, items: list[ProblemItem], extra, total: int | None = None) -> None:
        if not items:
            return
        lines.append(Line(heading, is_heading=True))
        texts = [_item_line(item, extra(item)) for item in items]
        if total is not None and total > len(items):
            texts.append(_("……另有%(n)s条，详见表格。", n=total - len(items)))
        else:
            texts[-1] = texts[-1].removesuffix("；") + "。"
        lines.extend(Line(text, heading) for text in texts)

    # Translated once, not per line: a 10,000-finding day would otherwise spend most of its time in gettext.
    late_fix, overdue = _("（逾期整改）"), _("（已超期）")
    found_due, found = _("（%(d)s发现，期限%(t)s）"), _("（%(d)s发现）")
    section(_("已整改："), report.fixed, lambda p: late_fix if p.late else "")
    section(_("未整改："), report.still_open, lambda p: overdue if p.late else "")
    section(_("往日超期未整改%(n)s条：", n=report.earlier_overdue_total), report.earlier_overdue,
            lambda p: found_due % {"d": short_date(p.captured_at), "t": short_time(p.deadline)},
            report.earlier_overdue_total)
    section(_("往日问题今日整改%(n)s条：", n=report.earlier_fixed_total), report.earlier_fixed_today,
            lambda p: found % {"d": short_date(p.captured_at)}, report.earlier_fixed_total)
    return lines


def chat_parts(report: DailyReport, limit: int = DEFAULT_LIMIT) -> list[str]:
    """The report as one or more chat messages, each at most ``limit`` characters when possible.

    Always Chinese, whatever language the reader's app is in: the text is pasted into the Chinese
    work group, and its body (category names, notes) is Chinese anyway."""
    with force_locale("zh_CN"):
        return split_parts(title(report), body_lines(report), limit)


def split_parts(head: str, lines: list[Line], limit: int) -> list[str]:
    """Pack lines into messages of at most ``limit`` characters, numbered "（i/n）" when more than one.

    A single line longer than the limit gets a message of its own rather than being cut: a
    half-sentence in a chat group is worse than a long message.
    """
    whole = "\n".join([head, *(line.text for line in lines)]).rstrip()
    if len(whole) <= limit:
        return [whole]
    sizes = sorted((len(line.text) + 1 for line in lines if line.text), reverse=True)
    digits = 1  # of the number of parts, which the "（i/n）" on every part must make room for
    while True:
        nines = "9" * digits
        room = limit - len(head) - len(f"（{nines}/{nines}）") - 1  # -1: the newline after the part's heading
        if len(str(_fewest_parts(sizes, room))) > digits:
            digits += 1  # so many parts they cannot be numbered this short: no need to pack to find out
            continue
        packed = _pack(lines, room)
        if len(str(len(packed))) <= digits:
            break
        digits = len(str(len(packed)))
    total = len(packed)
    return ["\n".join([f"{head}（{i}/{total}）", *chunk]) for i, chunk in enumerate(packed, 1)]


def _fewest_parts(sizes: list[int], room: int) -> int:
    """At least how many parts ``_pack`` makes of lines this long (each counted with its newline,
    longest first): a part holds at most ``room`` + 1 characters so counted, and a longer line is a
    part of its own."""
    if room < 1:
        return 1
    total = sum(sizes)
    for size in sizes:
        if size <= room + 1:
            break
        total -= size - room - 1
    return max(1, -(-total // (room + 1)))


def _pack(lines: list[Line], room: int) -> list[list[str]]:
    parts: list[list[str]] = []
    current: list[str] = []
    size = -1  # no newline before the first line
    cont = _("（续）：")

    def flush() -> None:
        nonlocal current, size
        while current and not current[-1]:
            current.pop()
        if current:
            parts.append(current)
        current, size = [], -1

    for index, line in enumerate(lines):
        text = line.text
        if not text and not current:
            continue  # no blank line at the top of a part
        need = len(text) + 1
        if line.is_heading:
            # Keep headings with the first line under them, never alone at the bottom of a part.
            for following in range(index + 1, len(lines)):
                need += len(lines[following].text) + 1
                if not lines[following].is_heading:
                    break
        if current and size + need > room:
            flush()
            if not text:
                continue
        if not current and line.heading and not line.is_heading:
            # A part that starts inside a group names the group again, when that still fits.
            continued = line.heading.removesuffix("：") + cont
            if len(continued) + len(text) + 1 <= room:
                current.append(continued)
                size += len(continued) + 1
        current.append(text)
        size += len(text) + 1
    flush()
    return parts
