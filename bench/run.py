"""`make bench`: every performance budget measured in one run, printed as one table.

    .venv/bin/python -m bench.run [--keep] [--total N] [--no-write]

Order: a fresh database and the shipped gunicorn server for what goes over HTTP (ingest, memory, the
browser figures), then a second database with a million generated findings for the queue and the
reports. The table goes to stdout and, with the date, the machine and the load average, into
docs/benchmarks.md between the results markers. The exit status is 1 when any budget is missed.
How each figure is measured is written in each module's docstring and in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import backlog, downscale, generate, ingest, memory, pwa
from .browser import launch, login, page_of, wait_ready
from .common import (ROOT, Figure, base_env, budget, collect, create_token, failed, free_port, load_average, log,
                     machine, prepare_database)
from .proxy import GzipRule, Proxy
from .server import Gunicorn

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
TOTAL = 1_000_000


def guarded(section: str, name: str, fn, *args) -> list[Figure]:
    """A measurement that crashes becomes a failed row with its error, and the run goes on."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported in the table, with the traceback on stderr
        traceback.print_exc()
        return [failed(section, name, f"{type(exc).__name__}: {exc}")]


def over_http(workdir: Path) -> list[Figure]:
    db_path = workdir / "live.sqlite3"
    log("preparing the live database (migrate, seed-demo --no-history)")
    env = prepare_database(workdir, db_path)
    token = create_token(env, "inspector")
    server = Gunicorn(base_env(workdir, db_path), workdir / "gunicorn.log").start()
    figures: list[Figure] = [
        Figure("0 setup", "gunicorn (gunicorn.conf.py as shipped)",
               f"{len(server.worker_pids())} workers × {server.env.get('GUNICORN_THREADS', '4')} threads, gthread")]
    try:
        figures += guarded(ingest.SECTION, "ingest", ingest.run, server, token)
        figures.append(Figure(memory.SECTION, "peak RSS of a worker after the ingest run (4 clients, 1600 px)",
                              memory.peaks_text(server), note="VmHWM of each worker; not the 24 MP budget"))
        # The 24 MP budget is about those photos: a fresh server, so no earlier peak is counted.
        server.stop()
        server = Gunicorn(base_env(workdir, db_path), workdir / "gunicorn.log").start()
        figures += guarded(memory.SECTION, "memory", memory.run, server, token, workdir)
        from playwright.sync_api import sync_playwright

        proxy = Proxy(server.port, free_port(), GzipRule.from_deploy_doc()).start()
        try:
            with sync_playwright() as pw:
                figures += guarded(pwa.SECTION, "pwa", pwa.run, pw, proxy, workdir)
                figures += guarded(downscale.SECTION, "downscale", _downscale, pw, server, workdir)
                figures += guarded(backlog.SECTION, "backlog", backlog.run, pw, server, db_path, workdir)
        finally:
            proxy.stop()
    finally:
        server.stop()
    return figures


def _downscale(pw, server, workdir: Path) -> list[Figure]:
    context = launch(pw, workdir / "photo-profile", server.url)
    try:
        login(context)
        page = page_of(context)
        page.goto("/capture/")
        wait_ready(page)
        return downscale.run(page)
    finally:
        context.close()


def at_scale(workdir: Path, total: int) -> list[Figure]:
    db_path = workdir / "million.sqlite3"
    log("preparing the million database")
    prepare_database(workdir, db_path)
    log(f"generating {total:,} findings")
    stats = generate.generate(str(db_path), total=total)
    figures = [budget(
        "3 queue", f"bulk load of {stats['findings']:,} findings (bench/generate.py)", f"{stats['seconds']:.0f} s",
        "< 120 s", stats["seconds"] < 120,
        f"CPU {stats['cpu_seconds']:.0f} s — wall time beyond that is the machine's other load; "
        f"rows {stats['insert_seconds']:.0f} s, then {stats['indexes']} indexes built; "
        f"{db_path.stat().st_size / 2**20:,.0f} MB; statuses " +
        ", ".join(f"{k} {v:,}" for k, v in sorted(stats["statuses"].items(), key=lambda kv: -kv[1])))]
    log("queue")
    figures += collect("queue", str(db_path), str(workdir))
    log("reports")
    figures += collect("reports", str(db_path), str(workdir), stats["report_day"].isoformat(),
                       str(stats["report_street_id"]))
    return figures


# --- output ----------------------------------------------------------------------------------------

def table(figures: list[Figure]) -> tuple[str, str]:
    """The terminal table (notes listed under it by row number) and the Markdown one."""
    rows = [(str(i), f.section, f.name, f.value, f.budget, f.result) for i, f in enumerate(figures, 1)]
    head = ("#", "section", "figure", "value", "budget", "result")
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    widths[2] = min(widths[2], 78)

    def line(cells) -> str:
        return "  ".join(cell[:w].ljust(w) if i == 2 else cell.ljust(w) for i, (cell, w) in
                         enumerate(zip(cells, widths))).rstrip()

    text = [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows), "", "notes:"]
    text += [f"  {i}. {f.note}" for i, f in enumerate(figures, 1) if f.note]
    md = ["| # | section | figure | value | budget | result | notes |", "|---|---|---|---|---|---|---|"]
    for i, f in enumerate(figures, 1):
        cells = [str(i), f.section, f.name, f.value, f.budget or "—", "**FAIL**" if f.ok is False else f.result,
                 f.note]
        md.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(text), "\n".join(md)


def write_doc(md_table: str, header: list[str]) -> None:
    block = "\n".join([START, "", *(f"- {line}" for line in header), "", md_table, "", END])
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description="Measure every performance budget; print one table.")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (databases, logs, photos)")
    parser.add_argument("--total", type=int, default=TOTAL, help="findings to generate (default 1,000,000)")
    parser.add_argument("--no-write", action="store_true", help=f"do not rewrite {DOC.relative_to(ROOT)}")
    args = parser.parse_args()

    started = time.monotonic()
    when = datetime.now(timezone.utc).astimezone()
    load_start = load_average()
    host = machine()
    workdir = Path(tempfile.mkdtemp(prefix="xuncha-bench-"))
    log(f"work folder {workdir}; load average {load_start}")
    figures: list[Figure] = []
    try:
        figures += guarded("over HTTP", "live server", over_http, workdir)
        figures += guarded("at scale", "million findings", at_scale, workdir, args.total)
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    header = [
        f"Run {when:%Y-%m-%d %H:%M %Z} in {elapsed / 60:.1f} min.",
        f"Machine: {host['uname']}; {host['cpu']}; {host['cores']} cores; {host['ram']} RAM; "
        f"Python {host['python']}, SQLite {host['sqlite']}.",
        f"Load average (1/5/15 min) at the start {load_start}, at the end {load_average()} — the machine is "
        "shared: throughput and wall times move with it, CPU-time and byte figures do not.",
    ]
    text, md = table(figures)
    missed = [f for f in figures if f.ok is False]
    print("\n".join(header))
    print()
    print(text)
    print()
    print(f"{len(missed)} budget(s) missed." if missed else "Every budget met.")
    if not args.no_write:
        write_doc(md, header)
        print(f"written to {DOC.relative_to(ROOT)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
