"""5. The PWA on the wire: first load, repeat visit, offline cold start.

The browser talks to the shipped gunicorn through bench/proxy.py, which compresses as docs/deploy.md
has nginx do and records every request with the bytes it sent. Bytes are the response bodies as sent
(compressed where nginx would compress); response headers are reported beside them but not held to
the budget, because production serves HTTP/2 (docs/deploy.md), where repeated headers are compressed
(HPACK) and cost a fraction of their HTTP/1.1 size on loopback.

First load: a fresh profile, logged in by the login form's POST (no page loaded yet, so the HTTP cache
is empty), opens /capture/ and waits until the app is ready, the service worker is active with the
page in its cache, and no request has gone out for a second. Everything that arrived in that time
counts — including the service worker's own precache requests — except icons (the budget excludes
them) and the app's data calls under /api/ (reference data and session: data, not the app; reported
apart).

Repeat visit: a new tab on the same profile opens /capture/ again. The shell (JS, CSS, manifest, the
worker's helper script) must come from the service worker's cache: zero requests. The page itself is
network-first by design (it is the user's own page) and the browser re-checks /sw.js for updates;
both are listed.

Offline cold start: the proxy's socket is closed (connection refused for page and worker alike) and
the browser's network is switched off; the browser is started afresh on the profile and /capture/ is
opened: time from navigation to the capture form being ready (body[data-ready]), median of 5.
"""
from __future__ import annotations

import gzip
import statistics
import time
from pathlib import Path

from .browser import launch, login, page_of, wait_offline_ready, wait_ready
from .common import Figure, budget, fmt_kb, fmt_ms, info, log
from .proxy import Hit, Proxy

SECTION = "5 pwa"
FIRST_LOAD_LIMIT = 60 * 1024
COLD_START_MS = 1500


def kind(hit: Hit) -> str:
    path = hit.path.split("?", 1)[0]
    mime = hit.content_type.split(";", 1)[0]
    if "/icons/" in path or path.endswith((".png", ".ico")):
        return "icon"
    if path.startswith("/api/"):
        return "api"
    if path == "/sw.js":
        return "sw"
    # A 304 carries no Content-Type: a revalidated page (a path without a file extension) is still a page.
    if mime == "text/html" or (hit.status == 304 and not mime and "." not in path.rsplit("/", 1)[-1]):
        return "html"
    if path.endswith(".css"):
        return "css"
    if path.endswith(".js"):
        return "js"
    if path.endswith(".webmanifest"):
        return "manifest"
    return "other"


def settle(proxy: Proxy, quiet: float = 1.0, timeout: float = 30.0) -> list[Hit]:
    """Collect hits until none has arrived for ``quiet`` seconds."""
    hits: list[Hit] = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        new = proxy.take()
        if new:
            hits += new
            last = time.monotonic()
        elif time.monotonic() - last >= quiet:
            break
        time.sleep(0.05)
    return hits


def run(pw, proxy: Proxy, workdir: Path) -> list[Figure]:
    figures: list[Figure] = []
    profile = workdir / "pwa-profile"
    rule = proxy.rule
    figures.append(info(SECTION, "compression (as docs/deploy.md configures nginx)",
                        f"gzip level {rule.level}" if rule.on else "off",
                        "types: " + " ".join(sorted(rule.types))))

    log("pwa: first load")
    context = launch(pw, profile, proxy.url)
    try:
        login(context)
        proxy.take()
        page = page_of(context)
        page.goto("/capture/")
        wait_ready(page)
        wait_offline_ready(page)
        hits = settle(proxy)
        counted = [h for h in hits if kind(h) not in ("icon", "api")]
        body = sum(h.body_bytes for h in counted)
        raw = sum(h.raw_bytes for h in counted)
        headers = sum(h.header_bytes for h in counted)
        by_kind: dict[str, list[Hit]] = {}
        for h in counted:
            by_kind.setdefault(kind(h), []).append(h)
        breakdown = ", ".join(f"{k} {len(v)}× {fmt_kb(sum(h.body_bytes for h in v))}"
                              for k, v in sorted(by_kind.items()))
        seen: set[str] = set()
        again = []  # the same URL a second time: the page loaded it, then the worker's precache did
        for h in counted:
            if h.path in seen:
                again.append(h)
            seen.add(h.path)
        figures.append(budget(
            SECTION, "capture page first load: HTML+JS+CSS+manifest, bytes as sent", fmt_kb(body), "≤ 60 KB",
            body <= FIRST_LOAD_LIMIT,
            f"{len(counted)} requests: {breakdown}; uncompressed {fmt_kb(raw)}; response headers "
            f"{fmt_kb(headers)} more on HTTP/1.1"
            + (f"; {len(again)} files fetched a second time by the worker's precache: "
               f"{fmt_kb(sum(h.body_bytes for h in again))}" if again else "")))
        page_loaded = set(page.evaluate(
            "performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)"))
        page_loaded.add("/capture/")
        extra = [h for h in counted if h.path.split("?")[0] not in page_loaded and kind(h) in ("js", "css")]
        level6 = sum(len(gzip.compress(h.body, 6)) if h.gzipped else h.body_bytes for h in counted)
        figures.append(info(
            SECTION, "first load: JS/CSS the capture page itself does not load (worker, precache)",
            f"{len(extra)} files, {fmt_kb(sum(h.body_bytes for h in extra))}",
            ", ".join(sorted({h.path.rsplit('/', 1)[-1] for h in extra}))))
        figures.append(info(SECTION, f"first load with gzip_comp_level 6 instead of {rule.level}", fmt_kb(level6),
                            "the same responses compressed at level 6 (zlib), for comparison"))
        plain = sorted({h.content_type.split(";")[0] for h in counted if not h.gzipped and h.raw_bytes > 1024})
        if plain:
            figures.append(info(SECTION, "first load: types sent uncompressed (not in gzip_types)",
                                ", ".join(plain), fmt_kb(sum(h.body_bytes for h in counted if not h.gzipped))))
        api = [h for h in hits if kind(h) == "api"]
        icons = [h for h in hits if kind(h) == "icon"]
        figures.append(info(SECTION, "first load, not counted: app data (/api/) and icons",
                            f"{fmt_kb(sum(h.body_bytes for h in api))} / {fmt_kb(sum(h.body_bytes for h in icons))}",
                            ", ".join(sorted({h.path.split('?')[0] for h in api}))))

        log("pwa: repeat visit")
        page.close()
        proxy.take()
        page = context.new_page()
        page.goto("/capture/")
        wait_ready(page)
        hits = settle(proxy)
        shell = [h for h in hits if kind(h) in ("js", "css", "manifest", "other")]
        others = ", ".join(f"{h.method} {h.path.split('?')[0]} {h.status}" for h in hits if h not in shell)
        figures.append(budget(SECTION, "repeat visit: requests for the shell (JS, CSS, manifest)", str(len(shell)),
                              "0", not shell,
                              ("; ".join(h.path for h in shell) + " | " if shell else "")
                              + f"other requests: {others or 'none'}"))
    finally:
        context.close()

    log("pwa: offline cold starts")
    proxy.stop()
    samples = []
    try:
        for _ in range(5):
            context = launch(pw, profile, proxy.url)
            try:
                context.set_offline(True)
                page = page_of(context)
                started = time.perf_counter()
                page.goto("/capture/")
                wait_ready(page)
                samples.append((time.perf_counter() - started) * 1000)
            finally:
                context.close()
    finally:
        proxy.start()
    median = statistics.median(samples)
    figures.append(budget(SECTION, "offline cold start to a capture-ready screen", fmt_ms(median), "≤ 1.5 s",
                          median <= COLD_START_MS,
                          "median of 5, fresh browser each time: " + ", ".join(f"{s:,.0f}" for s in samples) + " ms"))
    return figures
