"""7. Sync of a backlog: 100 captures queued offline, then the network comes back.

A logged-in inspector's capture page (headless Chromium, straight to gunicorn over loopback) goes
offline; 100 captures, each with one 1600×1200 photo as the PWA makes them, are put in the outbox
with the app's own ``outbox.enqueue`` — the call the capture form's 保存 makes, with the same item
shape — rather than by 100 rounds of tapping through the form. Then the network is switched back on:
the page's ``online`` handler starts the app's sync, which sends the backlog by itself.

Time runs from switching the network on until all 100 findings are committed on the server (polled
in the database). Requests are counted in the server's own request log: every capture must cost
exactly one ``PUT /api/v1/photos/{uuid}`` and one ``PUT /api/v1/findings/{uuid}``; the other calls
of a sync run (session, reference data, "my findings") are listed, not counted per capture. The outbox
keeps several items in flight (docs/sync-protocol.md), so the note gives, from each log line's end time
and duration, the PUTs' time inside the app summed, how many it had in hand at once, and for how long
it had at least one.
"""
from __future__ import annotations

import base64
import sqlite3
import statistics
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from .browser import launch, login, module_url, page_of, wait_offline_ready, wait_ready
from .common import Figure, budget, log
from .photos import phone_uploads

SECTION = "7 backlog sync"
CAPTURES = 100
LIMIT_S = 20.0

ENQUEUE = """async ([urls, photos]) => {
  const outbox = await import(urls.outbox);
  const util = await import(urls.util);
  const reference = await import(urls.reference);
  const db = await import(urls.db);
  const ref = await reference.cached();
  const session = await db.kvGet("session");
  const site = ref.sites.find((s) => s.kind !== "market");
  const category = ref.categories.find((c) => c.code === "litter") || ref.categories[0];
  const ids = [];
  for (const b64 of photos) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
    const id = util.uuid();
    const photoId = util.uuid();
    await outbox.enqueue({
      id, kind: "finding", userId: session.user.id,
      photos: [{ id: photoId, mime: "image/jpeg", bytes: bytes.buffer, sha256: await util.sha256Hex(bytes.buffer),
                 uploaded: false, width: 1600, height: 1200 }],
      request: { method: "PUT", url: `/api/v1/findings/${id}`, body: {
        kind: "problem", captured_at: util.isoLocal(), community_id: site.community_id, site_id: site.id,
        category_code: category.code, note: "积压同步测试", photo_ids: [photoId],
        location: { lat: 36.4489, lon: 115.9712, accuracy_m: 10 } } },
      createdAt: new Date().toISOString(), summary: { title: category.name_zh, subtitle: site.name }, thumb: null,
    });
    ids.push(id);
  }
  return ids;
}"""

STATES = """async (url) => (await (await import(url)).list()).map((i) => i.state)"""


def _on_server(db_path: Path, ids: list[str]) -> int:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        marks = ",".join("?" * len(ids))
        return con.execute(f"SELECT count(*) FROM findings WHERE uuid IN ({marks})", ids).fetchone()[0]
    finally:
        con.close()


def _overlap(records: list[dict]) -> tuple[int, float]:
    """From each log line's end time and duration: the most requests the app was working on at the same
    moment, and for how many seconds it was working on at least one."""
    edges = []
    for r in records:
        end = datetime.fromisoformat(r["ts"]).timestamp()
        edges += [(end - r["duration_ms"] / 1000, 1), (end, -1)]
    level = top = 0
    busy = 0.0
    since = None
    for at, step in sorted(edges):  # at a tie the end (-1) sorts first: back to back is not at once
        if level == 0 and step == 1:
            since = at
        level += step
        top = max(top, level)
        if level == 0 and since is not None:
            busy += at - since
            since = None
    return top, busy


def run(pw, server, db_path: Path, workdir: Path) -> list[Figure]:
    context = launch(pw, workdir / "sync-profile", server.url)
    try:
        login(context)
        page = page_of(context)
        page.goto("/capture/")
        wait_ready(page)
        wait_offline_ready(page)
        urls = {name: module_url(page, f"{name}.js") for name in ("outbox", "util", "reference", "db")}
        context.set_offline(True)
        log(f"backlog: queueing {CAPTURES} captures offline")
        photos = [base64.b64encode(p).decode() for p in phone_uploads(CAPTURES, seed=11)]
        ids: list[str] = []
        for i in range(0, CAPTURES, 10):
            ids += page.evaluate(ENQUEUE, [urls, photos[i:i + 10]])
        states = Counter(page.evaluate(STATES, urls["outbox"]))
        if states.get("pending", 0) < CAPTURES:
            raise RuntimeError(f"outbox before sync: {dict(states)}")

        log("backlog: network back")
        offset = server.log_offset()
        started = time.perf_counter()
        context.set_offline(False)
        server_s = client_s = None
        deadline = started + 180
        while time.perf_counter() < deadline and (server_s is None or client_s is None):
            if server_s is None and _on_server(db_path, ids) == CAPTURES:
                server_s = time.perf_counter() - started
            if client_s is None:
                states = Counter(page.evaluate(STATES, urls["outbox"]))
                if states.get("sent", 0) == CAPTURES:
                    client_s = time.perf_counter() - started
            time.sleep(0.1)
        time.sleep(1.0)  # let the last access lines reach the log
    finally:
        context.close()

    records = server.requests_since(offset)
    puts = Counter()
    per_capture: Counter = Counter()
    wanted = set(ids)
    others = Counter()
    for r in records:
        parts = r["path"].split("/")
        if r["method"] == "PUT" and r["path"].startswith("/api/v1/photos/"):
            puts["photo"] += 1
            per_capture["photo:" + parts[-1]] += 1
        elif r["method"] == "PUT" and r["path"].startswith("/api/v1/findings/") and parts[-1] in wanted:
            puts["finding"] += 1
            per_capture["finding:" + parts[-1]] += 1
        else:
            others[f"{r['method']} {r['path'].split('?')[0]}"] += 1
    per = (puts["photo"] + puts["finding"]) / CAPTURES
    in_app = {kind: sorted(r["duration_ms"] for r in records if r["method"] == "PUT"
                           and r["path"].startswith(f"/api/v1/{kind}s/") and r.get("duration_ms") is not None)
              for kind in ("photo", "finding")}
    app_s = sum(sum(v) for v in in_app.values()) / 1000
    most, busy_s = _overlap([r for r in records if r["method"] == "PUT" and r.get("duration_ms") is not None])
    # The outbox keeps several items in flight, so the requests' times inside the app overlap: their sum
    # is the app's work, the time it had at least one in hand is what the wall clock saw of it.
    split = (f"time inside the app: {app_s:.1f} s summed over the PUTs (photo median "
             f"{statistics.median(in_app['photo']):,.0f} ms, finding median {statistics.median(in_app['finding']):,.0f} ms), "
             f"up to {most} at once, at least one during {busy_s:.1f} s; the rest is the browser, the network stack "
             "and waits between requests") if in_app["photo"] and in_app["finding"] else ""
    exact = (puts["photo"] == CAPTURES and puts["finding"] == CAPTURES and all(v == 1 for v in per_capture.values()))
    return [
        budget(SECTION, f"{CAPTURES} offline captures on the server after the network returns",
               f"{server_s:.1f} s" if server_s is not None else "not all arrived", f"≤ {LIMIT_S:.0f} s",
               server_s is not None and server_s <= LIMIT_S,
               (f"the outbox marked all sent after {client_s:.1f} s" if client_s is not None
                else f"outbox states at the end: {dict(states)}") + (f"; {split}" if split else "")),
        budget(SECTION, "requests per capture (server log)", f"{per:.2f}", "exactly 2 (PUT photo + PUT finding)",
               exact, f"PUT photo {puts['photo']}, PUT finding {puts['finding']}; other requests in the run: "
               + (", ".join(f"{k} ×{v}" for k, v in sorted(others.items())) or "none")),
    ]
