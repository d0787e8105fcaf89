"""1. Photo ingest end to end, against the limit of the image work itself.

End to end: 4 API clients (bearer token, keep-alive) each send captures as a phone's outbox does —
``PUT /api/v1/photos/{uuid}`` with the JPEG and its Content-Digest, then ``PUT /api/v1/findings/{uuid}``
naming it — to the shipped gunicorn server on SQLite, for a fixed window. Throughput counts captures
finished inside the window; latency is per capture (both requests).

The limit: the same photos through ``webapp.images.process`` (decode, orient, strip, master + 1280 +
320, hashing) in as many processes as gunicorn has workers, no HTTP, no database, same window. It is
measured before and after the end-to-end run and averaged, because the machine is shared and its
load drifts. The naive pipeline (``exif_transpose`` on the full image, no draft) is timed the same way
for comparison, and so is ``images.process`` on 1 and 2 threads of one process, which shows how much of
the pipeline runs outside the GIL (what one gunicorn worker handed most of the connections can use).

End to end also carries work the limit does not: request parsing, the token lookup, four fsynced
files (three renditions, then the watermarked view), two SQLite commits and the watermark burned into
the rows under its panel when the finding attaches the photo (webapp/watermark.py).
"""
from __future__ import annotations

import base64
import hashlib
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import requests

# Imported here, before the raw limit forks its processes, and never first inside a child. A child
# that imports the app's modules itself ends up with a malloc state in which every decode and resize
# buffer is a fresh mmap: ~5,600 page faults and ~11 ms of kernel time per photo, which the server's
# workers (~100 faults per capture) do not pay. The limit would be 15 % low and the ratio flattered.
from webapp import images

from .common import Figure, budget, cpu_seconds, fmt_ms, info, log, minor_faults, percentile
from .photos import phone_uploads

SECTION = "1 ingest"
CLIENTS = 4
WINDOW_S = 20.0
RAW_WINDOW_S = 10.0
THREAD_WINDOW_S = 5.0
MAX_PIXELS = 60_000_000
CST = timezone(timedelta(hours=8))


def _digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


# --- the limit: image work alone ------------------------------------------------------------------

def _raw_worker(pipeline: str, photos: list[bytes], window: float, barrier, out) -> None:
    fn = images.process if pipeline == "draft" else images.naive_pipeline
    fn(photos[0], "image/jpeg", max_pixels=MAX_PIXELS)  # codec tables, first buffers: not part of the rate
    barrier.wait()
    end = time.time() + window
    cpu0 = time.process_time()
    faults0 = minor_faults(os.getpid())
    done = 0
    i = 0
    while True:
        data = photos[i % len(photos)]
        i += 1
        images.sha256_hex(data)  # the server hashes what it received, too
        fn(data, "image/jpeg", max_pixels=MAX_PIXELS)
        if time.time() > end:
            break
        done += 1
    out.put((done, (time.process_time() - cpu0) / i, (minor_faults(os.getpid()) - faults0) / i))


def raw_rate(photos: list[bytes], processes: int, window: float,
             pipeline: str = "draft") -> tuple[float, float, float]:
    """(photos per second that ``processes`` processes manage with the pipeline alone, CPU s per photo,
    minor page faults per photo)."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    barrier = ctx.Barrier(processes)
    procs = [ctx.Process(target=_raw_worker, args=(pipeline, photos[i::processes], window, barrier, out))
             for i in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=window + 300) for _ in procs]
    for p in procs:
        p.join()
    return (sum(r[0] for r in results) / window, statistics.mean(r[1] for r in results),
            statistics.mean(r[2] for r in results))


def thread_rate(photos: list[bytes], threads: int, window: float) -> float:
    """Photos per second that ``threads`` threads of one process manage with ``images.process``: what one
    gunicorn worker can do when most connections land on it. Only the parts of the pipeline that run
    outside the GIL (decode, resize, and encoding since images.save_jpeg) add up across threads."""
    images.process(photos[0], "image/jpeg", max_pixels=MAX_PIXELS)
    done = [0] * threads
    end = time.perf_counter() + window

    def work(k: int) -> None:
        for i in range(k, 10**9, threads):
            if time.perf_counter() >= end:
                return
            images.process(photos[i % len(photos)], "image/jpeg", max_pixels=MAX_PIXELS)
            done[k] += 1

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / window


# --- end to end ------------------------------------------------------------------------------------

class Places:
    def __init__(self, base_url: str, token: str) -> None:
        ref = requests.get(base_url + "/api/v1/reference", headers={"Authorization": f"Bearer {token}"},
                           timeout=30).json()
        site = next(s for s in ref["sites"] if s.get("kind") != "market")
        self.community_id = site["community_id"]
        self.site_id = site["id"]
        self.category_code = next(c["code"] for c in ref["categories"] if c["code"] == "litter")


def send_capture(session: requests.Session, base: str, token: str, data: bytes, places: Places,
                 digest: str) -> tuple[float, float, float]:
    """One capture the way the outbox sends it; returns (photo s, finding s, total s). Raises on non-2xx."""
    photo_id, finding_id = str(uuid.uuid4()), str(uuid.uuid4())
    auth = {"Authorization": f"Bearer {token}"}
    t0 = time.perf_counter()
    r = session.put(f"{base}/api/v1/photos/{photo_id}", data=data, timeout=120,
                    headers={**auth, "Content-Type": "image/jpeg", "Content-Digest": digest})
    if r.status_code != 201:
        raise RuntimeError(f"PUT photo: {r.status_code} {r.text[:300]}")
    t1 = time.perf_counter()
    body = {
        "kind": "problem", "captured_at": datetime.now(CST).isoformat(timespec="seconds"),
        "community_id": places.community_id, "site_id": places.site_id, "category_code": places.category_code,
        "note": "门店外摆放货物", "location": {"lat": 36.4489, "lon": 115.9712, "accuracy_m": 12.0},
        "photo_ids": [photo_id],
    }
    r = session.put(f"{base}/api/v1/findings/{finding_id}", json=body, headers=auth, timeout=120)
    if r.status_code != 201:
        raise RuntimeError(f"PUT finding: {r.status_code} {r.text[:300]}")
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, t2 - t0


def end_to_end(server, token: str, photos: list[bytes], window: float) -> dict:
    base = server.url
    places = Places(base, token)
    digests = [_digest(p) for p in photos]
    results: list[tuple[float, float, float, float]] = []  # (finished at, photo, finding, total)
    errors: list[str] = []
    lock = threading.Lock()
    workers = server.worker_pids()
    pids = [server.process.pid, *workers]
    mark: dict[str, float] = {}
    by_worker: dict[int, float] = {}

    def start_window() -> None:
        mark["start"] = time.perf_counter()
        by_worker.update({p: cpu_seconds(p) for p in workers})
        mark["cpu"] = sum(cpu_seconds(p) for p in pids)
        mark["faults"] = sum(minor_faults(p) for p in workers)

    barrier = threading.Barrier(CLIENTS, action=start_window)

    def client(k: int) -> None:
        session = requests.Session()
        mine = list(range(k, len(photos), CLIENTS))
        try:
            send_capture(session, base, token, photos[mine[0]], places, digests[mine[0]])  # connect, warm
        except Exception as exc:  # noqa: BLE001 - reported in the table
            errors.append(str(exc))
            barrier.abort()
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        end_at = mark["start"] + window
        for i in mine[1:] * 4:
            if time.perf_counter() >= end_at:
                break
            try:
                timing = send_capture(session, base, token, photos[i], places, digests[i])
            except Exception as exc:  # noqa: BLE001
                errors.append(str(exc))
                return
            with lock:
                results.append((time.perf_counter(), *timing))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if "start" not in mark:
        return {"errors": errors or ["clients did not start"], "captures": 0}
    cpu = sum(cpu_seconds(p) for p in pids) - mark["cpu"]
    faults = sum(minor_faults(p) for p in workers) - mark["faults"]
    elapsed = time.perf_counter() - mark["start"]
    # Keep-alive connections stay with the worker that accepted them, so the split is often 3:1.
    worker_cores = sorted(((cpu_seconds(p) - by_worker[p]) / elapsed for p in workers), reverse=True)
    inside = [r for r in results if r[0] <= mark["start"] + window]
    return {
        "rate": len(inside) / window,
        "captures": len(inside),
        "cpu_per_capture": cpu / len(results) if results else 0.0,
        "faults_per_capture": faults / len(results) if results else 0.0,
        "total": [r[3] * 1000 for r in inside],
        "photo": [r[1] * 1000 for r in inside],
        "finding": [r[2] * 1000 for r in inside],
        "errors": errors,
        "worker_cores": worker_cores,
    }


def run(server, token: str) -> list[Figure]:
    workers = len(server.worker_pids())
    log(f"ingest: generating photos; gunicorn has {workers} workers")
    photos = phone_uploads(240, seed=1)
    sizes = [len(p) for p in photos]
    log("ingest: raw limit (1/2)")
    raw_before, cpu_before, faults_before = raw_rate(photos, workers, RAW_WINDOW_S)
    log("ingest: end to end")
    e2e = end_to_end(server, token, photos, WINDOW_S)
    log("ingest: raw limit (2/2), naive pipeline")
    raw_after, cpu_after, faults_after = raw_rate(photos, workers, RAW_WINDOW_S)
    naive, naive_cpu, _ = raw_rate(photos, workers, RAW_WINDOW_S, pipeline="naive")
    log("ingest: one process, 1 and 2 threads")
    one_thread, two_threads = thread_rate(photos, 1, THREAD_WINDOW_S), thread_rate(photos, 2, THREAD_WINDOW_S)
    raw = (raw_before + raw_after) / 2
    raw_cpu = (cpu_before + cpu_after) / 2
    figures = [
        info(SECTION, "test photos", f"{len(photos)} JPEGs 1600×1200, {min(sizes) // 1024}–{max(sizes) // 1024} KB"),
    ]
    if e2e["errors"] or not e2e["captures"]:
        figures.append(budget(SECTION, "end to end / raw limit", "errors", "≥ 70 %", False,
                              "; ".join(sorted(set(e2e["errors"])))[:300]))
        return figures
    ratio = e2e["rate"] / raw
    figures += [
        info(SECTION, f"raw limit ({workers} processes, images.process)", f"{raw:.2f} photos/s",
             f"before {raw_before:.2f}, after {raw_after:.2f}; minor page faults per photo "
             f"{(faults_before + faults_after) / 2:,.0f}"),
        info(SECTION, f"naive pipeline ({workers} processes)", f"{naive:.2f} photos/s",
             f"CPU per photo: images.process {raw_cpu * 1000:.0f} ms, naive {naive_cpu * 1000:.0f} ms"),
        info(SECTION, "images.process in one process, 2 threads / 1 thread",
             f"{two_threads:.2f} / {one_thread:.2f} photos/s",
             "how far one gunicorn worker's threads share the cores: decode, resize and JPEG encoding "
             "(images.save_jpeg) run outside the GIL"),
        info(SECTION, f"end to end ({CLIENTS} clients → gunicorn, SQLite)", f"{e2e['rate']:.2f} photos/s",
             f"{e2e['captures']} captures in {WINDOW_S:.0f} s; cores used by each worker: " +
             " / ".join(f"{c:.2f}" for c in e2e["worker_cores"]) +
             " (a keep-alive connection stays with the worker that accepted it)"),
        info(SECTION, "capture latency p50 / p95 (PUT photo + PUT finding)",
             f"{fmt_ms(percentile(e2e['total'], 50))} / {fmt_ms(percentile(e2e['total'], 95))}",
             f"PUT photo p50 {fmt_ms(statistics.median(e2e['photo']))}, "
             f"PUT finding p50 {fmt_ms(statistics.median(e2e['finding']))}"),
        info(SECTION, "server CPU per capture (gunicorn master + workers)",
             f"{e2e['cpu_per_capture'] * 1000:.0f} ms",
             f"raw CPU per photo / server CPU per capture = {raw_cpu / e2e['cpu_per_capture'] * 100:.0f} % "
             "(the same ratio in CPU time, which other load on the machine does not move); "
             f"minor page faults per capture {e2e['faults_per_capture']:,.0f}"),
        budget(SECTION, "end to end / raw limit", f"{ratio * 100:.0f} %", "≥ 70 %", ratio >= 0.70),
    ]
    return figures
