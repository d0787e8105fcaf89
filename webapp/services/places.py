"""Places (街道 → 社区 → 点位 → 分区): CSV import and the demo place list.

A street office hands over its list of compounds, markets and back lanes as a spreadsheet. The import
checks every row before it touches the database, so an office never ends up with half a list and a
second attempt that creates duplicates: either every row is good and all of them go in (in one
transaction), or nothing does and each bad row is named by its line number. Places that already
exist are reused, so importing the same file twice changes nothing.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import Community, Site, SiteKind, Street, Zone

# What people type in the kind column: the code itself, or the Chinese words on the ground.
KIND_ALIASES: dict[str, SiteKind] = {
    "小区": SiteKind.residential, "家属院": SiteKind.residential, "小区/家属院": SiteKind.residential,
    "居民小区": SiteKind.residential, "新村": SiteKind.residential,
    "市场": SiteKind.market, "早市": SiteKind.market, "农贸市场": SiteKind.market, "集贸市场": SiteKind.market,
    "市场/早市": SiteKind.market,
    "背街小巷": SiteKind.back_lane,
    "商业街": SiteKind.commercial_street,
    "门店": SiteKind.shop_frontage, "临街门店": SiteKind.shop_frontage,
    "车站周边": SiteKind.station_area, "火车站周边": SiteKind.station_area, "汽车站周边": SiteKind.station_area,
    "公厕": SiteKind.public_toilet, "旱厕": SiteKind.public_toilet,
    "其他": SiteKind.other, "其它": SiteKind.other,
}
for _kind in SiteKind:
    KIND_ALIASES[_kind.value] = _kind

# Header names accepted for each column (English codes or the Chinese a street office would write).
COLUMNS: dict[str, tuple[str, ...]] = {
    "street": ("street", "街道"),
    "community": ("community", "社区"),
    "site": ("site", "点位", "点位名称"),
    "kind": ("kind", "类型", "点位类型"),
    "lat": ("lat", "latitude", "纬度"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "address": ("address", "地址"),
}
REQUIRED = ("street", "community", "site", "kind", "lat", "lon")
COLUMN_LABELS = {"street": _l("街道"), "community": _l("社区"), "site": _l("点位"), "kind": _l("类型"),
                 "address": _l("地址")}
MAX_LEN = {"street": 100, "community": 100, "site": 200, "address": 300}


@dataclass(frozen=True)
class PlaceRow:
    line: int
    street: str
    community: str
    site: str
    kind: str
    lat: float | None
    lon: float | None
    address: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.street, self.community, self.site)


@dataclass(frozen=True)
class PlaceError:
    line: int
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class ImportSummary:
    streets: int = 0
    communities: int = 0
    sites: int = 0
    updated_sites: int = 0
    unchanged_sites: int = 0
    zones: int = 0
    created: list[str] = field(default_factory=list)


def _err(line: int, message) -> PlaceError:
    return PlaceError(line, str(message))


def _header_map(header: list[str]) -> tuple[dict[str, int], list[str]]:
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff").lower()
        for column, aliases in COLUMNS.items():
            if name in aliases and column not in found:
                found[column] = index
    missing = [c for c in REQUIRED if c not in found]
    return found, missing


def _coordinate(value: str, low: float, high: float) -> float | None:
    value = value.strip()
    if not value:
        return None
    number = float(value)  # ValueError is reported by the caller with the line number
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(value)
    return number


def parse_places_csv(text: str) -> tuple[list[PlaceRow], list[PlaceError]]:
    """Parse and check a places CSV; return every good row and every error, never raising.

    Line numbers are those a spreadsheet shows (the header is line 1), so an office can find the row.
    The admin console uses this for its preview; ``import_places`` only ever receives checked rows.
    """
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [_err(1, _l("文件为空:第一行应为表头 street,community,site,kind,lat,lon[,address]"))]
    except csv.Error as exc:
        return [], [_err(1, _l("第%(line)d行: 无法解析 (%(detail)s)", line=1, detail=exc))]
    columns, missing = _header_map(header)
    if missing:
        return [], [_err(1, _l("第1行: 表头缺少列 %(columns)s", columns=", ".join(missing)))]

    rows: list[PlaceRow] = []
    errors: list[PlaceError] = []
    seen: dict[tuple[str, str, str], PlaceRow] = {}
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(_err(reader.line_num, _l("第%(line)d行: 无法解析 (%(detail)s)", line=reader.line_num,
                                                  detail=exc)))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines, often at the end of an exported sheet

        def cell(column: str) -> str:
            index = columns.get(column)
            return record[index].strip() if index is not None and index < len(record) else ""

        problems: list[str] = []
        values = {c: cell(c) for c in ("street", "community", "site", "kind", "address")}
        for column in ("street", "community", "site", "kind"):
            if not values[column]:
                problems.append(str(_l("缺少%(column)s", column=COLUMN_LABELS[column])))
        for column, limit in MAX_LEN.items():
            if len(values[column]) > limit:
                problems.append(str(_l("%(column)s超过%(limit)d个字", column=COLUMN_LABELS[column], limit=limit)))
        kind = KIND_ALIASES.get(values["kind"].lower()) if values["kind"] else None
        if values["kind"] and kind is None:
            problems.append(str(_l("未知类型 '%(kind)s'", kind=values["kind"])))
        lat = lon = None
        try:
            lat = _coordinate(cell("lat"), -90, 90)
        except ValueError:
            problems.append(str(_l("纬度无效 '%(value)s'", value=cell("lat"))))
        try:
            lon = _coordinate(cell("lon"), -180, 180)
        except ValueError:
            problems.append(str(_l("经度无效 '%(value)s'", value=cell("lon"))))
        if (cell("lat") == "") != (cell("lon") == ""):
            problems.append(str(_l("纬度和经度须同时填写或同时留空")))

        if problems:
            errors.extend(_err(line, _l("第%(line)d行: %(problem)s", line=line, problem=p)) for p in problems)
            continue
        row = PlaceRow(line, values["street"], values["community"], values["site"], kind.value, lat, lon,
                       values["address"] or None)
        if row.key in seen:
            errors.append(_err(line, _l("第%(line)d行: 与第%(first)d行重复 (%(site)s)", line=line,
                                        first=seen[row.key].line, site=row.site)))
            continue
        seen[row.key] = row
        rows.append(row)
    if not rows and not errors:
        errors.append(_err(2, _l("文件中没有点位")))
    return rows, errors


def _get_or_create_street(name: str, summary: ImportSummary) -> Street:
    street = db.session.scalar(select(Street).where(Street.name == name))
    if street is None:
        street = Street(name=name)
        db.session.add(street)
        summary.streets += 1
    return street


def _get_or_create_community(street: Street, name: str, summary: ImportSummary) -> Community:
    community = None
    if street.id is not None:
        community = db.session.scalar(
            select(Community).where(Community.street_id == street.id, Community.name == name)
        )
    if community is None:
        community = next((c for c in street.communities if c.name == name), None)
    if community is None:
        community = Community(street=street, name=name)
        db.session.add(community)
        summary.communities += 1
    return community


def _upsert_site(community: Community, row: PlaceRow, summary: ImportSummary) -> Site:
    site = None
    if community.id is not None:
        site = db.session.scalar(select(Site).where(Site.community_id == community.id, Site.name == row.site))
    if site is None:
        site = next((s for s in community.sites if s.name == row.site), None)
    if site is None:
        site = Site(community=community, name=row.site, kind=row.kind, latitude=row.lat, longitude=row.lon,
                    address=row.address)
        db.session.add(site)
        summary.sites += 1
        summary.created.append(f"{row.street} / {row.community} / {row.site}")
        return site
    # The file is the office's current word on a place it names, but a blank cell never erases.
    changes = {"kind": row.kind}
    if row.lat is not None:
        changes.update(latitude=row.lat, longitude=row.lon)
    if row.address:
        changes["address"] = row.address
    if any(getattr(site, k) != v for k, v in changes.items()):
        for key, value in changes.items():
            setattr(site, key, value)
        summary.updated_sites += 1
    else:
        summary.unchanged_sites += 1
    return site


def _add_places(rows: list[PlaceRow], summary: ImportSummary) -> dict[tuple[str, str, str], Site]:
    """Insert or update without committing (the caller owns the transaction)."""
    streets: dict[str, Street] = {}
    communities: dict[tuple[str, str], Community] = {}
    sites: dict[tuple[str, str, str], Site] = {}
    with db.session.no_autoflush:
        for row in rows:
            street = streets.get(row.street) or _get_or_create_street(row.street, summary)
            streets[row.street] = street
            key = (row.street, row.community)
            community = communities.get(key) or _get_or_create_community(street, row.community, summary)
            communities[key] = community
            sites[row.key] = _upsert_site(community, row, summary)
    return sites


def import_places(rows: list[PlaceRow]) -> ImportSummary:
    """Import checked rows (from ``parse_places_csv``) in one transaction; existing places are reused.

    An existing site takes the kind, and any coordinates and address given, from the row: the file
    is the street office's current word on the places it names. Nothing is deleted or retired.
    """
    summary = ImportSummary()
    try:
        _add_places(rows, summary)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return summary


# --- Demo places ---------------------------------------------------------------------------------
# The streets, communities and sites named on the seed page (聊城, 2017 创卫 coverage). Where the page
# names a site but not its community, the community is invented and marked （示例）; sites marked
# （示例） are invented too, so every kind of place appears in the demo. Coordinates are plausible
# points around Liaocheng's old town (≈36.45N, 115.98E), not survey data.
EXAMPLE = "（示例）"

DEMO_PLACES: tuple[tuple[str, str, str, str, float, float, str], ...] = (
    # street, community, site, kind, lat, lon, address
    ("柳园街道", "文苑社区", "聊城二中家属院", "residential", 36.4628, 115.9743, "东昌府区柳园街道文苑社区"),
    ("柳园街道", "公园社区", "新嘉园小区", "residential", 36.4589, 115.9688, "东昌府区柳园街道公园社区"),
    ("柳园街道", "公园社区", EXAMPLE + "公园社区背街小巷", "back_lane", 36.4577, 115.9702,
     "东昌府区柳园街道公园社区"),
    ("古楼街道", "汇金社区", "运河路西沿儿商户", "shop_frontage", 36.4452, 115.9791, "东昌府区运河路西侧临街门店"),
    ("古楼街道", EXAMPLE + "王口社区", "王口新村", "residential", 36.4398, 115.9836, "东昌府区古楼街道王口新村"),
    ("古楼街道", EXAMPLE + "王口社区", "中通时代豪园二期", "residential", 36.4413, 115.9872,
     "东昌府区古楼街道中通时代豪园二期"),
    ("古楼街道", EXAMPLE + "王口社区", "管道局家属院", "residential", 36.4381, 115.9895, "东昌府区古楼街道管道局家属院"),
    ("古楼街道", "香江社区", "硫酸厂家属院", "residential", 36.4436, 115.9934, "东昌府区古楼街道香江社区"),
    ("古楼街道", "香江社区", EXAMPLE + "香江背街小巷", "back_lane", 36.4441, 115.9951, "东昌府区古楼街道香江社区"),
    ("古楼街道", EXAMPLE + "湖西社区", "湖西早市", "market", 36.4489, 115.9712, "东昌府区古楼街道湖西早市"),
    ("古楼街道", EXAMPLE + "湖西社区", "铁路益民小区", "residential", 36.4471, 115.9688, "东昌府区古楼街道铁路益民小区"),
    ("古楼街道", EXAMPLE + "湖西社区", "恒昌商业街", "commercial_street", 36.4507, 115.9759, "东昌府区恒昌商业街"),
    ("古楼街道", EXAMPLE + "站前社区", "火车站周边", "station_area", 36.4312, 115.9588, "东昌府区聊城火车站周边"),
    ("古楼街道", EXAMPLE + "站前社区", EXAMPLE + "站前公厕", "public_toilet", 36.4321, 115.9603,
     "东昌府区火车站广场东侧"),
    ("新区街道", EXAMPLE + "西姚社区", "西姚新村", "residential", 36.4557, 116.0112, "东昌府区新区街道西姚新村"),
    ("新区街道", EXAMPLE + "西姚社区", "南朱", "other", 36.4519, 116.0188, "东昌府区新区街道南朱村"),
    ("新区街道", EXAMPLE + "国棉社区", "国棉厂家属院", "residential", 36.4602, 116.0043, "东昌府区新区街道国棉厂家属院"),
)

# 湖西早市's zones, as the page lists them.
DEMO_ZONES: dict[str, tuple[str, ...]] = {"湖西早市": ("果蔬区", "水产品区", "活禽区", "花草区", "小商品区")}


def ensure_demo_places() -> dict[str, Site]:
    """Create (or find) the seed page's places and market zones; commits. Returns sites by name."""
    rows = [PlaceRow(n, *place) for n, place in enumerate(DEMO_PLACES, start=1)]
    summary = ImportSummary()
    try:
        sites = _add_places(rows, summary)
        db.session.flush()
        for site in sites.values():
            wanted = DEMO_ZONES.get(site.name, ())
            have = {z.name for z in site.zones}
            for order, name in enumerate(wanted):
                if name not in have:
                    site.zones.append(Zone(name=name, sort_order=order))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return {site.name: site for site in sites.values()}
