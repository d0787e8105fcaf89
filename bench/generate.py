"""Bulk generator: a million findings across the demo places and categories, in well under 2 minutes.

Run it on a database that `flask db upgrade` and `flask seed-demo --no-history` prepared:

    .venv/bin/python -m bench.generate /path/to/bench.sqlite3 --total 1000000

The app's services (one finding per transaction, each with its photos, watermark and event) would
take hours for a million rows, so the generator writes with the standard library's sqlite3 straight
into the migrated schema, and lets SQLite make the rows itself: per local day one ``INSERT … SELECT``
over a recursive CTE (bench/generate_sql.py), its choices drawn from seeded Park–Miller streams and
looked up in small temporary tables of places, categories, inspectors and statuses. Python only plans
the days; no row crosses into Python (Python tuples through ``executemany`` cost ~45 s CPU of the
old generator's 86 s). What goes in is what the services would have produced: statuses, timestamps,
deadlines (the workflow's 23:59:59-local rule), overdue marks, parties (a market with a manager takes
what is found in it), one before-photo row per problem, all in the past and in capture order, so ids
ascend with ``captured_at`` as they do in life. The same seed and clock give the same rows.

For a bulk load SQLite is fastest without secondary indexes: the generator drops the non-unique
indexes of ``findings`` and ``photos``, inserts, and creates the very same indexes again (their DDL is
read from ``sqlite_master``, so whatever the migrations define is what the benchmarks query). The
table scans behind those index builds read the file through ``mmap`` (no copy into the page cache).
Workflow events are not generated: no measured query reads them.

Shape of the data (``now`` is the generation time):
  * the 89 local days before today hold every row, so the 90-day dashboard and a 90-day export cover all;
  * yesterday, one street (古楼街道 by default) has exactly ``report_count`` findings — the daily report's
    worst day — and every other street its usual share;
  * communities are weighted (the market's community busiest), inspectors are the demo ones plus 20
    more, 15 % of findings are "卫生尚可" checks of a site;
  * older problems are mostly verified; yesterday's are spread over the whole loop; ~4 % of older
    problems still wait for the desk, so the desk queue holds tens of thousands;
  * uuids are time-ordered (version 7, as valid to the app as the phones' version 4), so the unique
    indexes on them are appended to rather than written at random places.
"""
from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from zoneinfo import ZoneInfo

from . import generate_sql

DAYS = 89
EXTRA_INSPECTORS = 20
LOCAL = ZoneInfo("Asia/Shanghai")
# A bench database: no journal, no fsync. A 20 MB page cache is as fast as 400 MB for appending rows and
# cheaper for the index builds (measured: ~24 s CPU instead of ~30); the table is read through mmap.
# Sorter threads do not lower the CPU time, but on two busy cores they cut the index builds' wall time
# by about a fifth.
PRAGMAS = ("journal_mode=OFF", "synchronous=OFF", "cache_size=-20000", "mmap_size=4000000000",
           "temp_store=MEMORY", "foreign_keys=OFF", "locking_mode=EXCLUSIVE", "threads=4")


def epoch(at: datetime) -> int:
    return int(at.timestamp())


def stamp(at: datetime) -> str:
    """The dialect's text form of a datetime: naive UTC, microseconds always present."""
    return at.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@dataclass
class Day:
    day: date
    count: int
    report: int  # of ``count``, rows of the report street (yesterday only)


def _add_inspectors(con: sqlite3.Connection, now: datetime) -> None:
    """A street office has dozens of inspectors; the demo has two. They cannot log in (no password)."""
    for n in range(1, EXTRA_INSPECTORS + 1):
        username = f"bench-inspector-{n:02d}"
        if con.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            continue
        cur = con.execute(
            "INSERT INTO users (username, display_name, password_hash, locale, disabled, must_change_password, "
            "created_at) VALUES (?, ?, ?, 'zh_CN', 0, 0, ?)",
            (username, f"督导员{n + 2:02d}", "!bench-no-login", stamp(now)))
        con.execute("INSERT INTO user_roles (user_id, role) VALUES (?, 'inspector')", (cur.lastrowid,))


def _plan(total: int, report_share: float, report_count: int, today: date) -> list[Day]:
    """Rows per local day for the 89 days before today, summing to ``total``. Yesterday the other
    streets keep their usual share and the report street's share becomes exactly ``report_count``."""
    normal = total - report_count
    yesterday_others = round(normal / DAYS * (1 - report_share))
    rest = normal - yesterday_others
    plan = []
    for i in range(DAYS - 1):
        plan.append(Day(today - timedelta(days=DAYS - i), rest // (DAYS - 1) + (1 if i < rest % (DAYS - 1) else 0), 0))
    plan.append(Day(today - timedelta(days=1), report_count + yesterday_others, report_count))
    return plan


def _secondary_indexes(con: sqlite3.Connection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('findings', 'photos') "
        "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'").fetchall()


def _cpu() -> float:
    """CPU seconds of this process (all its threads), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def generate(db_path: str, total: int = 1_000_000, report_street: str = "古楼街道", report_count: int = 10_000,
             seed: int = 7, now: datetime | None = None) -> dict:
    """Fill ``db_path`` (SQLite) with ``total`` findings; returns what was made and how long it took."""
    started = time.perf_counter()
    cpu_start = _cpu()
    now = now or datetime.now(timezone.utc)
    today = now.astimezone(LOCAL).date()
    if not 0 <= report_count <= total:
        raise SystemExit("--report-count must lie between 0 and --total")
    con = sqlite3.connect(db_path, isolation_level=None)
    for pragma in PRAGMAS:
        con.execute(f"PRAGMA {pragma}")
    con.execute("BEGIN")
    _add_inspectors(con, now)
    pools = generate_sql.load_reference(con, report_street)
    indexes = _secondary_indexes(con)
    for name, _sql in indexes:
        con.execute(f'DROP INDEX "{name}"')
    first = con.execute("SELECT coalesce(max(id), 0) FROM findings").fetchone()[0]
    rnd = random.Random(seed)
    last = first
    for day in _plan(total, pools.report_share, report_count, today):
        if not day.count:
            continue
        day_start = epoch(datetime.combine(day.day, clock(7, 0), tzinfo=LOCAL))  # patrols run 07:00–19:00
        made = con.execute(generate_sql.FINDINGS, generate_sql.day_params(
            pools, rnd, first_id=last + 1, count=day.count, report=day.report, start=day_start, now=epoch(now),
            recent=(today - day.day).days <= 1)).rowcount
        if made != day.count:  # a lookup that found nothing drops its row: a bug, not a smaller benchmark
            raise RuntimeError(f"{day.day}: {made} of {day.count} findings made")
        last += day.count
    con.execute(generate_sql.PHOTOS, {"first": first, "last": last})
    statuses = dict(con.execute(
        "SELECT status, count(*) FROM findings WHERE id > ? GROUP BY status ORDER BY count(*) DESC", (first,)))
    inserted = time.perf_counter() - started
    inserted_cpu = _cpu()
    # Committed first, so no table page is left dirty in the cache: the index builds read them all through mmap.
    con.execute("COMMIT")
    con.execute("BEGIN")
    for _name, sql in indexes:
        con.execute(sql)
    con.execute("COMMIT")
    con.execute("PRAGMA locking_mode=NORMAL")
    con.execute("PRAGMA journal_mode=WAL")  # what the app sets on every connection anyway
    con.close()
    return {
        "findings": last - first, "seconds": time.perf_counter() - started, "insert_seconds": inserted,
        "cpu_seconds": _cpu() - cpu_start, "insert_cpu_seconds": inserted_cpu - cpu_start,
        "indexes": len(indexes), "report_day": today - timedelta(days=1), "report_street_id": pools.report_street_id,
        "report_street": report_street, "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", help="path of a migrated, demo-seeded SQLite database")
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--report-street", default="古楼街道")
    parser.add_argument("--report-count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stats = generate(args.database, args.total, args.report_street, args.report_count, args.seed)
    print(f"{stats['findings']:,} findings in {stats['seconds']:.1f} s ({stats['cpu_seconds']:.1f} s CPU) "
          f"(rows {stats['insert_seconds']:.1f} s, {stats['insert_cpu_seconds']:.1f} s CPU; "
          f"{stats['indexes']} indexes rebuilt); "
          f"report day {stats['report_day']} for {stats['report_street']}; statuses {stats['statuses']}")


if __name__ == "__main__":
    main()
