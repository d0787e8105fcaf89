"""4. Reports over the million findings: the daily report, the 90-day dashboard, the full CSV export.

Run as ``python -m bench.reports DB WORKDIR REPORT_DAY STREET_ID`` on a database the generator filled.

Server time is time inside the app: each report is requested through Flask's test client (with a
desk account's bearer token), so it includes the view, the service's queries and rendering, but no
socket. The daily report is the generator's worst day — one street, 10,000 findings in one local day —
as chat text, printable HTML and XLSX; the dashboard is the default view over 90 days (every row).

The CSV export of all rows is measured in a fresh subprocess (``--csv``): after a small export has
loaded every code path, the kernel's peak-RSS mark is reset (/proc/self/clear_refs), the whole export
is streamed through the test client chunk by chunk and discarded, and VmHWM minus the resident set
before it is the growth.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .common import (PYTHON, ROOT, Figure, bench_app, budget, emit, failed, fmt_mb, fmt_ms, info, median_ms,
                     proc_status_kb, user_token)

SECTION = "4 reports"


def measure(db_path: Path, workdir: Path, day: str, street_id: str) -> list[Figure]:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Community, Finding
    from webapp.services.reports import local_day_bounds
    from datetime import date

    app = bench_app(db_path, workdir)
    token = user_token(app, "desk")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    figures: list[Figure] = []
    with app.app_context():
        start, end = local_day_bounds(date.fromisoformat(day))
        that_day = db.session.scalar(
            select(func.count()).select_from(Finding).join(Community, Community.id == Finding.community_id)
            .where(Community.street_id == int(street_id), Finding.captured_at >= start, Finding.captured_at < end))
        db.session.rollback()
    figures.append(info(SECTION, "daily report: findings of the street that day", f"{that_day:,}"))

    def get(url: str, **query) -> bytes:
        response = client.get(url, query_string=query, headers=auth)
        if response.status_code != 200:
            raise RuntimeError(f"{url} {query}: {response.status_code} {response.get_data(as_text=True)[:200]}")
        return response.get_data()

    daily = {"date": day, "street": street_id}
    for fmt, runs, limit_ms in (("text", 5, 300), ("html", 5, 300), ("xlsx", 3, 3000)):
        try:
            size = len(get("/reports/daily", format=fmt, **daily))
            ms, _ = median_ms(lambda f=fmt: get("/reports/daily", format=f, **daily), runs)
        except Exception as exc:  # noqa: BLE001 - the row says what broke
            figures.append(failed(SECTION, f"daily report ({fmt})", str(exc)))
            continue
        figures.append(budget(SECTION, f"daily report, {that_day:,} findings ({fmt})", fmt_ms(ms),
                              f"≤ {fmt_ms(limit_ms)}", ms <= limit_ms, f"median of {runs}; {size / 1024:,.0f} KB"))
    try:
        size = len(get("/reports/", days="90"))
        ms, samples = median_ms(lambda: get("/reports/", days="90"), 3)
        figures.append(budget(SECTION, "dashboard, 90 days over every finding", fmt_ms(ms), "≤ 1 s", ms <= 1000,
                              f"median of 3 ({', '.join(f'{s:,.0f}' for s in samples)} ms); {size / 1024:,.0f} KB"))
    except Exception as exc:  # noqa: BLE001
        figures.append(failed(SECTION, "dashboard, 90 days", str(exc)))
    return figures


def csv_export(db_path: Path, workdir: Path) -> dict:
    """In this (fresh) process: stream the whole 90-day export and return RSS growth, rows, bytes, time."""
    app = bench_app(db_path, workdir)
    token = user_token(app, "desk")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    def stream(**query) -> tuple[int, int]:
        response = client.get("/reports/findings.csv", query_string=query, headers=auth, buffered=False)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code} {response.get_data(as_text=True)[:200]}")
        size = lines = 0
        for chunk in response.response:
            size += len(chunk)
            lines += chunk.count(b"\r\n")
        response.close()
        return size, lines

    stream(days="7", status="submitted")  # load every code path first
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current resident set
    before = proc_status_kb("self", "VmRSS")
    started = time.perf_counter()
    size, lines = stream(days="90")
    seconds = time.perf_counter() - started
    peak = proc_status_kb("self", "VmHWM")
    return {"growth_kb": peak - before, "before_kb": before, "bytes": size, "rows": lines - 1, "seconds": seconds}


def measure_csv(db_path: Path, workdir: Path) -> list[Figure]:
    done = subprocess.run([PYTHON, "-m", "bench.reports", "--csv", str(db_path), str(workdir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return [failed(SECTION, "CSV export of every finding", done.stderr.strip()[-300:])]
    out = json.loads(lines[-1])
    growth = out["growth_kb"] * 1024
    return [budget(SECTION, f"CSV export of all {out['rows']:,} rows, peak RSS growth", fmt_mb(growth), "≤ 50 MB",
                   growth <= 50 * 1024 * 1024,
                   f"{fmt_mb(out['bytes'])} streamed in {out['seconds']:.1f} s; RSS before {fmt_mb(out['before_kb'] * 1024)}")]


if __name__ == "__main__":
    if sys.argv[1] == "--csv":
        print(json.dumps(csv_export(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        db, work, day, street = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
        emit(measure(db, work, day, street) + measure_csv(db, work))
