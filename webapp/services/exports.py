"""Finding lists as CSV and XLSX, streamed.

Why streaming: a street office exports a season's findings — up to a million rows — from a small
server shared with the inspectors' uploads. Rows are read with a server-side cursor in batches
(``yield_per``), formatted, and handed to the response as they come, so memory stays flat however
many rows there are. CSV starts with a UTF-8 BOM because Excel on Chinese Windows otherwise
opens UTF-8 as GBK and shows mojibake. XLSX cannot be emitted before it is complete (it is a zip
with a directory at the end), so openpyxl's write-only mode writes it to a temporary file and the
file is streamed from disk.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextvars import Token
from datetime import date, datetime, timezone
from decimal import Decimal

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Category, Community, Finding, Site, Street, User, Zone
from ..sqlite_tuning import set_write_intent
from .reports import ACCEPTED_STATUSES, FIXED_STATUSES, OK, STATUS_LABELS, FindingFilter, finding_where, local_tz, \
    problem_phrase, resolve_filter, status_label

BATCH = 2000
# Excel's sheet holds 1,048,576 rows; one is the header.
XLSX_MAX_ROWS = 1_048_575
CSV_CHUNK = 256 * 1024


def finding_columns() -> list[str]:
    return [
        _("编号"), _("发现时间"), _("街道"), _("社区"), _("点位"), _("分区"), _("记录类型"), _("问题类别"),
        _("问题描述"), _("备注"), _("状态"), _("督导员"), _("整改期限"), _("派遣时间"), _("整改时间"),
        _("核查时间"), _("超期"),
    ]


def finding_rows_select(where: list) -> Select:
    inspector = aliased(User)
    return (
        select(
            Finding.uuid, Finding.captured_at, Street.name, Community.name, Site.name, Zone.name, Finding.kind,
            Category.name_zh, Finding.note, Finding.status, inspector.display_name, Finding.deadline,
            Finding.dispatched_at, Finding.rectified_at, Finding.verified_at, Finding.overdue_at,
        )
        .join(Community, Community.id == Finding.community_id)
        .join(Street, Street.id == Community.street_id)
        .join(inspector, inspector.id == Finding.inspector_id)
        .outerjoin(Site, Site.id == Finding.site_id)
        .outerjoin(Zone, Zone.id == Finding.zone_id)
        .outerjoin(Category, Category.id == Finding.category_id)
        .where(*where)
        .order_by(Finding.captured_at, Finding.id)
    )


def iter_finding_rows(where: list, now: datetime | None = None) -> Iterator[tuple]:
    """Formatted rows (local naive datetimes, labels in the reader's language) for every finding
    matching ``where``.

    The words are translated now, in the request; the rows are read when iterated, which for a
    download is after the view has returned (see ``in_app_context``). ``yield_per`` makes
    PostgreSQL use a server-side cursor and SQLite fetch in batches, so the whole result is never
    held in memory.
    """
    now = now or datetime.now(timezone.utc)
    words = {"ok": _("卫生尚可"), "problem": _("问题"), "yes": _("是"), "no": _("否"), "other": _("其他问题"),
             "labels": {status: status_label(status) for status in STATUS_LABELS}}
    return _finding_rows(db.engine, finding_rows_select(where), now, local_tz(), words)


def _rows_read_only(engine, statement) -> Iterator:
    """Rows of ``statement`` on a connection of their own, fetched in batches.

    A download is read after its view has returned, outside the app and request contexts; a
    plain connection needs neither (and a client that hangs up just lets it be closed).
    """
    with engine.connect() as conn:
        token = set_write_intent(False)  # a plain BEGIN on SQLite: never queues behind writers
        try:
            result = conn.execution_options(yield_per=BATCH).execute(statement)
        finally:
            set_write_intent(True if token.old_value is Token.MISSING else token.old_value)
        yield from result


def _finding_rows(engine, statement, now: datetime, tz, words: dict) -> Iterator[tuple]:
    kind_ok, kind_problem, yes, no = words["ok"], words["problem"], words["yes"], words["no"]
    labels: dict[str, str] = words["labels"]
    phrases: dict[tuple, str] = {}

    def local(value):
        return value.astimezone(tz).replace(tzinfo=None) if value is not None else None

    for (uuid, captured, street, community, site, zone, kind, category, note, status, inspector, deadline,
         dispatched, rectified, verified, overdue_at) in _rows_read_only(engine, statement):
        if kind == OK:
            phrase, overdue = kind_ok, None
        else:
            phrase = phrases.get((category, note))
            if phrase is None:  # notes repeat ("垃圾桶满溢" …): phrase each pair once, bounded
                phrase = problem_phrase(category, note) if (category or note) else words["other"]
                if len(phrases) < 10_000:
                    phrases[(category, note)] = phrase
            overdue = None
            if status in ACCEPTED_STATUSES:
                fixed_at = rectified if status in FIXED_STATUSES else None
                late = overdue_at is not None or (deadline is not None and (fixed_at or now) > deadline)
                overdue = yes if late else no
        # Empty cells, not empty strings: Excel's filters and COUNTA treat "" as a value.
        yield (uuid, local(captured), street, community, site, zone,
               kind_ok if kind == OK else kind_problem, category, phrase, note or None, labels.get(status, status),
               inspector, local(deadline), local(dispatched), local(rectified), local(verified), overdue)


def filtered_rows(user: User, flt: FindingFilter) -> tuple[list[str], Iterator[tuple]]:
    """Header and rows of a filtered finding list (scope checked first, so errors come before streaming)."""
    resolve_filter(user, flt)
    return finding_columns(), iter_finding_rows(finding_where(user, flt))


def count_rows(user: User, flt: FindingFilter) -> int:
    return db.session.scalar(select(func.count()).select_from(Finding).where(*finding_where(user, flt)))


def _csv_value(value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):  # a note typed as =HYPERLINK(…)
        return "'" + value  # stays text in Excel instead of becoming a live formula
    return "" if value is None else str(value)


def csv_stream(header: list[str], rows: Iterable[tuple]) -> Iterator[bytes]:
    """UTF-8 with BOM, CRLF line ends (what Excel writes), flushed in ~256 KB chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    first = True
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
        if buffer.tell() >= CSV_CHUNK:
            data = buffer.getvalue().encode("utf-8")
            yield (b"\xef\xbb\xbf" + data) if first else data
            first = False
            buffer.seek(0)
            buffer.truncate()
    data = buffer.getvalue().encode("utf-8")
    yield (b"\xef\xbb\xbf" + data) if first else data


SheetWriter = Callable[[Workbook], None]


def new_workbook() -> Workbook:
    return Workbook(write_only=True)


def write_table(workbook: Workbook, title: str, header: list[str], rows: Iterable[tuple],
                widths: dict[int, int] | None = None, preface: Iterable[list] = ()) -> int:
    """Append a sheet with a bold header row; datetimes get a date format Excel shows as local time.

    openpyxl lays out the sheet (column widths, preface, the bold header, styles, the package);
    the data rows are serialised by ``_SheetRows`` and spliced in before ``</sheetData>``.
    """
    sheet = workbook.create_sheet(title=title)
    for col, width in (widths or {}).items():
        sheet.column_dimensions[get_column_letter(col)].width = width
    bold = Font(bold=True)
    written = 0
    for line in preface:
        sheet.append(line)
        written += 1
    header_cells = []
    for label in header:
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    sheet.close()
    return _SheetRows(sheet).splice(rows, first_row=written + 2)


# XML 1.0 cannot carry these control characters at all; openpyxl refuses them, so they are dropped.
_ILLEGAL_XML = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
_EXCEL_EPOCH = datetime(1899, 12, 30)  # serial 0 of the 1900 date system (valid from 1900-03-01 on)
_DATE_FORMATS = {datetime: "yyyy-mm-dd hh:mm", date: "yyyy-mm-dd"}
_NUMBERS = (int, float, Decimal)


class _SheetRows:
    """Data rows as SpreadsheetML: the markup openpyxl's own writer gives them (the same bytes on
    a 10,000-finding day), ten times faster.

    openpyxl builds a Cell object per value and serialises it element by element, ~10 µs a cell:
    3 s of CPU for a 10,000-finding day (17 columns), minutes for a large export. Here a row is one
    string: text as inline strings (as openpyxl writes it; so a note is never a formula, nor an
    error value like "#N/A"), numbers as "%.16g", datetimes as Excel serials with a date style
    registered through openpyxl. Rows go to a file as they come: an export of a million rows stays
    flat in memory.
    """

    def __init__(self, sheet) -> None:
        self.sheet = sheet
        self.styles: dict[type, str] = {}
        self.texts: dict[str, str] = {}  # street, status, phrase …: the same words on every row
        self.letters = [get_column_letter(i) for i in range(1, 65)]

    def splice(self, rows: Iterable[tuple], first_row: int) -> int:
        # The closed write-only sheet is openpyxl's finished XML (layout, header); ``_writer.out``
        # is where it lies until the workbook is saved, so the rows go in there.
        path = self.sheet._writer.out
        with open(path, "rb") as fh:
            head, end, tail = fh.read().partition(b"</sheetData>")
        if not end:
            raise RuntimeError("openpyxl wrote no <sheetData> to splice rows into")
        fd, spliced = tempfile.mkstemp(prefix="xuncha-sheet-", suffix=".xml")
        count = 0
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(head)
                chunk: list[str] = []
                for count, row in enumerate(rows, 1):
                    chunk.append(self.row(first_row + count - 1, row))
                    if len(chunk) == 1000:
                        out.write("".join(chunk).encode("utf-8"))
                        chunk.clear()
                out.write("".join(chunk).encode("utf-8"))
                out.write(end + tail)
            os.replace(spliced, path)
        except BaseException:
            os.unlink(spliced)
            raise
        return count

    def row(self, number: int, values) -> str:
        cells = [f'<row r="{number}">']
        add = cells.append
        texts, styles, letters = self.texts, self.styles, self.letters
        if len(values) > len(letters):
            letters.extend(get_column_letter(i) for i in range(len(letters) + 1, len(values) + 1))
        for letter, value in zip(letters, values):
            kind = type(value)
            if kind is str:
                text = texts.get(value)
                if text is None:
                    text = self._text(value)
                if text:
                    add(f'<c r="{letter}{number}" t="inlineStr">{text}</c>')
                else:  # "" (openpyxl writes an empty inline-string cell)
                    add(f'<c r="{letter}{number}" t="inlineStr" />')
            elif value is None:
                continue
            elif kind is datetime:
                if value.tzinfo is not None:
                    raise TypeError("Excel has no time zones: give local naive datetimes")
                # As openpyxl's to_excel: whole days since the epoch plus the fraction of the day.
                delta = value - _EXCEL_EPOCH
                serial = delta.days + (delta.seconds * 1_000_000 + delta.microseconds) / 86_400_000_000
                add(f'<c r="{letter}{number}" s="{styles.get(kind) or self._style(kind)}" t="n">'
                    f'<v>{"%.16g" % serial}</v></c>')
            elif kind is date:
                add(f'<c r="{letter}{number}" s="{styles.get(kind) or self._style(kind)}" t="n">'
                    f'<v>{(value - _EXCEL_EPOCH.date()).days}</v></c>')
            elif kind is bool:
                add(f'<c r="{letter}{number}" t="b"><v>{"%.16g" % value}</v></c>')
            elif isinstance(value, _NUMBERS):
                if value != value or value in (float("inf"), float("-inf")):
                    continue  # NaN/inf: no such number in a sheet
                add(f'<c r="{letter}{number}" t="n"><v>{"%.16g" % value}</v></c>')
            elif isinstance(value, str):
                add(f'<c r="{letter}{number}" t="inlineStr">{self._text(str(value), cache=False)}</c>')
            else:
                raise TypeError(f"cannot write {kind.__name__} to a sheet")
        add("</row>")
        return "".join(cells)

    def _text(self, value: str, cache: bool = True) -> str:
        original = value
        value = value[:32767]  # Excel's limit for a cell
        if _ILLEGAL_XML.search(value):
            value = _ILLEGAL_XML.sub("", value)
        if not value:
            return ""
        stripped = value.strip()
        preserve = stripped and stripped != value  # as openpyxl: leading/trailing spaces kept
        if "&" in value or "<" in value or ">" in value:
            value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if preserve:
            text = f'<is><t xml:space="preserve">{value}</t></is>'
        else:
            text = f"<is><t>{value}</t></is>"
        if cache and len(self.texts) < 20_000:
            self.texts[original] = text
        return text

    def _style(self, kind: type) -> str:
        style = self.styles.get(kind)
        if style is None:
            cell = WriteOnlyCell(self.sheet)
            cell.number_format = _DATE_FORMATS[kind]
            style = self.styles[kind] = str(cell.style_id)  # registers the format in the workbook
        return style


def xlsx_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_stream(build: SheetWriter, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """Build a write-only workbook into a temporary file, then stream the file and delete it."""
    workbook = new_workbook()
    build(workbook)
    handle = tempfile.NamedTemporaryFile(prefix="xuncha-export-", suffix=".xlsx", delete=False)
    try:
        handle.close()
        workbook.save(handle.name)
        with open(handle.name, "rb") as fh:
            while data := fh.read(chunk):
                yield data
    finally:
        os.unlink(handle.name)
