"""The console's places CSV import: a preview that writes nothing, then the import, audited.

The parsing and the import rules are ``places.parse_places_csv`` / ``places.import_places``, the
same as ``flask import-places``; this module adds what a browser needs: decoding what Excel saves,
telling which rows create a place and which update one, and an audit row in the import's transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Community, Site, Street, User
from ..models.mixins import utcnow
from . import audit
from .errors import Invalid
from .places import ImportSummary, PlaceError, PlaceRow, import_places, parse_places_csv

MAX_BYTES = 2 * 1024 * 1024


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: Excel on a Chinese Windows saves CSV as GBK."""
    if len(raw) > MAX_BYTES:
        raise Invalid(_("文件太大(最多 2 MB)。"), fields={"file": [_("文件太大(最多 2 MB)。")]})
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError as err:
            raise Invalid(_("无法识别文件编码,请另存为 UTF-8 的 CSV。"),
                          fields={"file": [_("无法识别文件编码,请另存为 UTF-8 的 CSV。")]}) from err


@dataclass
class PreviewRow:
    row: PlaceRow
    state: str  # "new" | "update" | "same"
    retired: bool = False  # an existing place that is retired stays retired after the import


@dataclass
class Preview:
    rows: list[PreviewRow] = field(default_factory=list)
    errors: list[PlaceError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.errors

    def count(self, state: str) -> int:
        return sum(1 for r in self.rows if r.state == state)


def preview(text: str) -> Preview:
    """Check every line and say what each good one would do; reads the database, writes nothing."""
    rows, errors = parse_places_csv(text)
    existing = {
        (r.street, r.community, r.site): r for r in db.session.execute(
            select(Street.name.label("street"), Community.name.label("community"), Site.name.label("site"),
                   Site.kind, Site.latitude, Site.longitude, Site.address, Site.retired_at)
            .join(Community, Community.street_id == Street.id).join(Site, Site.community_id == Community.id))
    }
    out = []
    for row in rows:
        have = existing.get(row.key)
        if have is None:
            out.append(PreviewRow(row, "new"))
            continue
        changed = have.kind != row.kind or (row.lat is not None and (have.latitude, have.longitude) != (row.lat, row.lon)) \
            or (row.address and have.address != row.address)
        out.append(PreviewRow(row, "update" if changed else "same", retired=have.retired_at is not None))
    return Preview(out, errors)


def import_csv(actor: User, text: str, filename: str = "") -> ImportSummary:
    """Parse again (never trust a preview the browser sent back) and import all rows or none."""
    rows, errors = parse_places_csv(text)
    if errors:
        raise Invalid(_("文件有错误,没有导入任何内容。"), fields={"file": [str(e) for e in errors]})
    # Added before import_places commits, so the change and its audit row share one transaction.
    event = audit.record(actor, "places.import", "import", None, after={"rows": len(rows)},
                         label=filename or _("粘贴的 CSV"), note=utcnow().isoformat(timespec="seconds"))
    summary = import_places(rows)
    event.after = {"rows": len(rows), "streets": summary.streets, "communities": summary.communities,
                   "sites": summary.sites, "updated_sites": summary.updated_sites,
                   "unchanged_sites": summary.unchanged_sites}
    event.note = "; ".join(summary.created[:50])
    db.session.commit()
    return summary
