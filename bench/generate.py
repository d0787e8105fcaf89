"""Bulk generator: a million findings across the demo places and categories, in well under 2 minutes.

Run it on a database that `flask db upgrade` and `flask seed-demo --no-history` prepared:

    .venv/bin/python -m bench.generate /path/to/bench.sqlite3 --total 1000000

It writes with the standard library's sqlite3 straight into the migrated schema — one transaction,
multi-row ``executemany`` in 50,000-row chunks, journal off and a large page cache — because the app's
services (one finding per transaction, each with its photos, watermark and event) would take hours
for a million rows. What goes in is what the services would have produced: statuses, timestamps,
deadlines (the workflow's 23:59:59-local rule), overdue marks, parties, one before-photo row per
problem, all in the past and in capture order, so ids ascend with ``captured_at`` as they do in life.

For a bulk load SQLite is fastest without secondary indexes: the generator drops the non-unique
indexes of ``findings`` and ``photos``, inserts, and creates the very same indexes again (their DDL is
read from ``sqlite_master``, so whatever the migrations define is what the benchmarks query).
Workflow events are not generated: no measured query reads them.

Shape of the data (``now`` is the generation time):
  * the 89 local days before today hold every row, so the 90-day dashboard and a 90-day export cover all;
  * yesterday, one street (古楼街道 by default) has exactly ``report_count`` findings — the daily report's
    worst day — and every other street its usual share;
  * communities are weighted (the market's community busiest), inspectors are the demo ones plus 20
    more, 15 % of findings are "卫生尚可" checks of a site;
  * older problems are mostly verified; yesterday's are spread over the whole loop; ~4 % of older
    problems still wait for the desk, so the desk queue holds tens of thousands.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sqlite3
import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from zoneinfo import ZoneInfo

CHUNK = 50_000
DAYS = 89
EXTRA_INSPECTORS = 20
OK_SHARE = 0.15
LOCAL = ZoneInfo("Asia/Shanghai")
UTC_OFFSET = 8 * 3600  # Asia/Shanghai has no daylight saving time

# (status, weight) of a problem by age: yesterday's are mid-loop, older ones mostly closed.
RECENT = (("submitted", 25), ("rejected", 3), ("duplicate", 2), ("accepted", 5), ("dispatched", 15),
          ("acknowledged", 15), ("disputed", 1), ("rectified", 30), ("verified", 4))
OLDER = (("submitted", 4), ("rejected", 6), ("duplicate", 4), ("accepted", 1), ("dispatched", 1),
         ("acknowledged", 1), ("disputed", 1), ("rectified", 5), ("verified", 77))
DISPATCHED = {"dispatched", "acknowledged", "disputed", "rectified", "verified"}
ACCEPTED = {"accepted"} | DISPATCHED
NOTES = ("", "", "", "门口堆放杂物", "垃圾桶满溢", "摊位占道", "墙面小广告", "活禽区门帘未放下", "积水未清理")


# Times are whole epoch seconds while generating (phones send captured_at to the second) and become
# the dialect's text form — naive UTC, microseconds always present — by two table look-ups: strftime
# on a million datetimes would take longer than the whole insert.
_CLOCK = [f"{h:02d}:{m:02d}:{s:02d}.000000" for h in range(24) for m in range(60) for s in range(60)]
_DAY_PREFIX: dict[int, str] = {}


def fmt(ts: int | None) -> str | None:
    if ts is None:
        return None
    day, second = divmod(ts, 86400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat() + " "
    return prefix + _CLOCK[second]


def epoch(at: datetime) -> int:
    return int(at.timestamp())


def new_uuid(rnd: random.Random) -> str:
    """A random (version 4) UUID, as phones make them; uuid.UUID is 5× slower for the same string."""
    h = "%032x" % rnd.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


@dataclass
class Reference:
    communities: list[tuple[int, int, str]]  # id, street_id, street name
    sites_by_community: dict[int, list[tuple[int, str]]]  # community → [(site id, kind)]
    zones_by_site: dict[int, list[int]]
    categories: list[tuple[int, str, str, int]]  # id, routes_to, deadline unit, deadline value
    inspectors: list[int]


def _reference(con: sqlite3.Connection) -> Reference:
    communities = con.execute(
        "SELECT c.id, c.street_id, s.name FROM communities c JOIN streets s ON s.id = c.street_id "
        "WHERE c.retired_at IS NULL ORDER BY c.id").fetchall()
    sites: dict[int, list[tuple[int, str]]] = {}
    for site_id, community_id, kind in con.execute(
            "SELECT id, community_id, kind FROM sites WHERE retired_at IS NULL ORDER BY id"):
        sites.setdefault(community_id, []).append((site_id, kind))
    zones: dict[int, list[int]] = {}
    for zone_id, site_id in con.execute("SELECT id, site_id FROM zones WHERE retired_at IS NULL"):
        zones.setdefault(site_id, []).append(zone_id)
    categories = con.execute("SELECT id, routes_to, deadline_unit, deadline_value FROM categories "
                             "WHERE retired_at IS NULL ORDER BY id").fetchall()
    inspectors = [row[0] for row in con.execute("SELECT user_id FROM user_roles WHERE role = 'inspector'")]
    if not communities or not categories or not inspectors:
        raise SystemExit("run `flask db upgrade` and `flask seed-demo --no-history` first")
    return Reference(communities, sites, zones, categories, inspectors)


def _add_inspectors(con: sqlite3.Connection, now: int) -> None:
    """A street office has dozens of inspectors; the demo has two. They cannot log in (no password)."""
    for n in range(1, EXTRA_INSPECTORS + 1):
        username = f"bench-inspector-{n:02d}"
        if con.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            continue
        cur = con.execute(
            "INSERT INTO users (username, display_name, password_hash, locale, disabled, must_change_password, "
            "created_at) VALUES (?, ?, ?, 'zh_CN', 0, 0, ?)",
            (username, f"督导员{n + 2:02d}", "!bench-no-login", fmt(now)))
        con.execute("INSERT INTO user_roles (user_id, role) VALUES (?, 'inspector')", (cur.lastrowid,))


def _deadline(dispatched: int, unit: str, value: int) -> int:
    """workflow_rules.compute_deadline in epoch seconds: 23:59:59 local on the dispatch day (+N days)."""
    if unit == "hours":
        return dispatched + max(1, value) * 3600
    days = max(0, value) if unit == "days" else 0
    local_day = (dispatched + UTC_OFFSET) // 86400 + days
    return (local_day + 1) * 86400 - UTC_OFFSET - 1


def _secondary_indexes(con: sqlite3.Connection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('findings', 'photos') "
        "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'").fetchall()


def _day_plan(ref: Reference, rnd: random.Random, total: int, report_street: str, report_count: int,
              today: date) -> list[tuple[date, Counter]]:
    """(local day, findings per community) for the 89 days before today, summing to ``total``."""
    weights = [3.0 if any(kind == "market" for _, kind in ref.sites_by_community.get(cid, [])) else 1.0
               for cid, _street, _name in ref.communities]
    ids = [cid for cid, _street, _name in ref.communities]
    report_ids = [cid for cid, _street, name in ref.communities if name == report_street]
    if not report_ids:
        raise SystemExit(f"no street named {report_street}")
    others = [(cid, w) for cid, w in zip(ids, weights) if cid not in report_ids]
    report_day = today - timedelta(days=1)
    normal = total - report_count
    per_day = normal / DAYS
    # Yesterday the other streets keep their usual share; the report street's share is replaced.
    share_others = sum(w for _c, w in others) / sum(weights)
    yesterday_others = round(per_day * share_others) if others else 0
    rest = normal - yesterday_others
    plan = []
    for i in range(DAYS):
        day = today - timedelta(days=DAYS - i)
        counts: Counter = Counter()
        if day == report_day:
            if others:
                counts.update(rnd.choices([c for c, _w in others], [w for _c, w in others], k=yesterday_others))
            counts.update(rnd.choices(report_ids, k=report_count))
        else:
            n = rest // (DAYS - 1) + (1 if i < rest % (DAYS - 1) else 0)
            counts.update(rnd.choices(ids, weights, k=n))
        plan.append((day, counts))
    return plan


def _rows(ref: Reference, plan: list[tuple[date, Counter]], now: int, today: date, seed: int, finding_id: int,
          photo_id: int):
    """Yield (finding rows, photo rows) in chunks, in capture order; finally a Counter of statuses."""
    rnd = random.Random(seed + 1)
    photo_sha = hashlib.sha256(b"bench photo").hexdigest()
    findings: list[tuple] = []
    photos: list[tuple] = []
    statuses: Counter = Counter()
    categories = ref.categories
    inspectors = ref.inspectors
    for day, counts in plan:
        mix = RECENT if (today - day).days <= 1 else OLDER
        names, weights = [s for s, _w in mix], [w for _s, w in mix]
        day_start = epoch(datetime.combine(day, clock(7, 0), tzinfo=LOCAL))
        # Patrols run 07:00–19:00 local; rows go in capture order.
        slots = sorted((int(rnd.random() * 12 * 3600), cid) for cid, n in counts.items() for _ in range(n))
        picked = rnd.choices(names, weights, k=len(slots))
        for (offset, cid), status in zip(slots, picked):
            captured = day_start + offset
            finding_id += 1
            sites = ref.sites_by_community.get(cid, ())
            inspector = inspectors[int(rnd.random() * len(inspectors))]
            is_ok = sites and rnd.random() < OK_SHARE
            site_id = site_kind = None
            if sites and (is_ok or rnd.random() < 0.7):
                site_id, site_kind = sites[int(rnd.random() * len(sites))]
            zones = ref.zones_by_site.get(site_id)
            zone_id = zones[int(rnd.random() * len(zones))] if zones else None
            received = min(now, captured + int(rnd.random() * 7200))
            category_id = deadline = party_kind = party_community = party_site = None
            accepted = dispatched = acknowledged = rectified = verified = overdue = None
            note, version, updated = "", 1, received
            if is_ok:
                status, kind = "ok", "ok"
            else:
                kind = "problem"
                category_id, routes_to, unit, value = categories[int(rnd.random() * len(categories))]
                note = NOTES[int(rnd.random() * len(NOTES))]
                if status in ACCEPTED:
                    accepted = captured + 1080 + int(rnd.random() * 13320)
                    version, updated = 2, accepted
                    if status in DISPATCHED:
                        dispatched = accepted + int(rnd.random() * 1200)
                        deadline = _deadline(dispatched, unit, value)
                        if routes_to == "market" and site_kind == "market":
                            party_kind, party_site = "market", site_id
                        else:
                            party_kind, party_community = "community", cid
                        if status != "dispatched":
                            acknowledged = dispatched + 360 + int(rnd.random() * 10800)
                        if status in ("rectified", "verified"):
                            rectified = acknowledged + 1800 + int(rnd.random() * 108000)
                        if status == "verified":
                            verified = rectified + 1800 + int(rnd.random() * 86400)
                        # Nothing may lie in the future: a step that has not happened yet did not happen.
                        if verified is not None and verified >= now:
                            verified, status = None, "rectified"
                        if rectified is not None and rectified >= now:
                            rectified, status = None, "acknowledged"
                        if acknowledged is not None and acknowledged >= now:
                            acknowledged, status = None, "dispatched"
                        steps = [t for t in (acknowledged, rectified, verified) if t is not None]
                        version = 3 + len(steps)
                        updated = max(steps) if steps else dispatched
                        if (rectified is not None and rectified > deadline) or (rectified is None and deadline < now):
                            overdue = deadline
                elif status in ("rejected", "duplicate"):
                    updated, version = min(now, captured + 1080 + int(rnd.random() * 13320)), 2
            statuses[status] += 1
            findings.append((
                finding_id, new_uuid(rnd), kind, inspector, fmt(captured), 480, fmt(received), fmt(updated), cid,
                site_id, zone_id, category_id, note, 36.45 + rnd.random() * 0.03, 115.96 + rnd.random() * 0.05,
                5.0 + rnd.random() * 20, photo_sha, status, version, fmt(deadline), party_kind, party_community,
                party_site, fmt(accepted), fmt(dispatched), fmt(acknowledged), fmt(rectified), fmt(verified),
                fmt(overdue), None, fmt(received),
            ))
            if kind == "problem":
                photo_id += 1
                photos.append((
                    photo_id, new_uuid(rnd), inspector, finding_id, "before", 0, photo_sha, photo_sha, "image/jpeg",
                    350_000, 1600, 1200, "0f0f0f0f0f0f0f0f", fmt(captured), fmt(received), photo_sha, photo_sha,
                    photo_sha,
                ))
            if len(findings) >= CHUNK:
                yield findings, photos
                findings, photos = [], []
    yield findings, photos
    yield statuses


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the row maker), user + system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _produce(args, out) -> None:
    for item in _rows(*args):
        out.put(item)


def generate(db_path: str, total: int = 1_000_000, report_street: str = "古楼街道", report_count: int = 10_000,
             seed: int = 7, now: datetime | None = None) -> dict:
    """Fill ``db_path`` (SQLite) with ``total`` findings; returns what was made and how long it took.

    Rows are made in a second process while this one inserts them, so the two cores share the work.
    """
    started = time.perf_counter()
    cpu_start = _cpu()
    now = now or datetime.now(timezone.utc)
    today = now.astimezone(LOCAL).date()
    rnd = random.Random(seed)
    con = sqlite3.connect(db_path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY",
                   "foreign_keys=OFF", "locking_mode=EXCLUSIVE", "threads=4"):
        con.execute(f"PRAGMA {pragma}")
    con.execute("BEGIN")
    _add_inspectors(con, epoch(now))
    ref = _reference(con)
    indexes = _secondary_indexes(con)
    for name, _sql in indexes:
        con.execute(f'DROP INDEX "{name}"')
    first_finding = con.execute("SELECT coalesce(max(id), 0) FROM findings").fetchone()[0]
    first_photo = con.execute("SELECT coalesce(max(id), 0) FROM photos").fetchone()[0]
    plan = _day_plan(ref, rnd, total, report_street, report_count, today)

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue(maxsize=4)
    producer = ctx.Process(target=_produce, args=((ref, plan, epoch(now), today, seed, first_finding, first_photo),
                                                  queue))
    producer.start()
    made = 0
    waited = 0.0
    while True:
        t0 = time.perf_counter()
        item = queue.get(timeout=600)
        waited += time.perf_counter() - t0
        if isinstance(item, Counter):
            statuses = item
            break
        findings, photos = item
        con.executemany(FINDING_INSERT, findings)
        con.executemany(PHOTO_INSERT, photos)
        made += len(findings)
    producer.join()
    inserted = time.perf_counter() - started
    inserted_cpu = _cpu()
    for _name, sql in indexes:
        con.execute(sql)
    con.execute("COMMIT")
    con.execute("PRAGMA locking_mode=NORMAL")
    con.execute("PRAGMA journal_mode=WAL")  # what the app sets on every connection anyway
    con.close()
    community_street = {cid: street for cid, street, _name in ref.communities}
    report_street_id = community_street[next(c for c, _s, n in ref.communities if n == report_street)]
    return {
        "findings": made, "seconds": time.perf_counter() - started, "insert_seconds": inserted,
        "cpu_seconds": _cpu() - cpu_start, "insert_cpu_seconds": inserted_cpu - cpu_start,
        "waited_for_rows": waited,
        "indexes": len(indexes), "report_day": today - timedelta(days=1), "report_street_id": report_street_id,
        "report_street": report_street, "statuses": dict(statuses),
    }


FINDING_INSERT = (
    "INSERT INTO findings (id, uuid, kind, inspector_id, captured_at, captured_offset_min, received_at, updated_at, "
    "community_id, site_id, zone_id, category_id, note, latitude, longitude, accuracy_m, payload_hash, status, "
    "version, deadline, party_kind, party_community_id, party_site_id, accepted_at, dispatched_at, "
    "acknowledged_at, rectified_at, verified_at, overdue_at, duplicate_of_id, created_at) "
    "VALUES (" + ", ".join("?" * 31) + ")"
)
PHOTO_INSERT = (
    "INSERT INTO photos (id, uuid, uploader_id, finding_id, kind, position, received_sha256, sha256, content_type, "
    "byte_size, width, height, phash, taken_at, created_at, view_sha256, thumb_sha256, marked_sha256) "
    "VALUES (" + ", ".join("?" * 18) + ")"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", help="path of a migrated, demo-seeded SQLite database")
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--report-street", default="古楼街道")
    parser.add_argument("--report-count", type=int, default=10_000)
    args = parser.parse_args()
    stats = generate(args.database, args.total, args.report_street, args.report_count)
    print(f"{stats['findings']:,} findings in {stats['seconds']:.1f} s ({stats['cpu_seconds']:.0f} s CPU) "
          f"(rows {stats['insert_seconds']:.1f} s, of which {stats['waited_for_rows']:.1f} s waiting for the "
          f"row maker; {stats['indexes']} indexes rebuilt); "
          f"report day {stats['report_day']} for {stats['report_street']}; statuses {stats['statuses']}")


if __name__ == "__main__":
    main()
