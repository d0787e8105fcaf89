"""2. Memory with big photos: what a gunicorn worker's resident set reaches while it ingests 24 MP JPEGs.

A script client (bearer token, a new connection per upload, so the kernel hands the uploads to
whichever worker accepts) sends 24-megapixel camera JPEGs one after another. The figure is the
highest VmHWM (the kernel's peak resident set) of the master's children — the workers — read from
/proc/<pid>/status. VmHWM covers the worker's whole life, so it includes loading the app.

For information: the same with 4 uploads at once (a worker has 4 threads, so this is the most one
worker can be asked to hold), and the peak of each pipeline alone on one 24 MP photo in a fresh
process, which shows what JPEG draft mode saves over decoding the full image.
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import uuid

import requests

from .common import PYTHON, ROOT, Figure, budget, failed, fmt_mb, info, log, proc_status_kb
from .photos import big_camera

SECTION = "2 memory"
LIMIT_MB = 200
SEQUENTIAL = 6

PIPELINE_PEAK = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from webapp import images
data = open(sys.argv[2], "rb").read()
fn = images.process if sys.argv[3] == "draft" else images.naive_pipeline
images.process(images.encode_jpeg(images.Image.new("RGB", (64, 48)), 80).data, "image/jpeg", max_pixels=10**8)
def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as fh:   # reset VmHWM to the current resident set
    fh.write("5")
before = kb("VmRSS")
start = time.perf_counter()
fn(data, "image/jpeg", max_pixels=10**8)
print(json.dumps({"growth_kb": kb("VmHWM") - before, "seconds": time.perf_counter() - start}))
"""


def _upload(base: str, token: str, data: bytes) -> int:
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"
    r = requests.put(f"{base}/api/v1/photos/{uuid.uuid4()}", data=data, timeout=300, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg", "Content-Digest": digest,
        "Connection": "close"})
    return r.status_code


def _worker_peaks(server) -> dict[int, int]:
    return {pid: proc_status_kb(pid, "VmHWM") or 0 for pid in server.worker_pids()}


def peaks_text(server) -> str:
    return " / ".join(fmt_mb(kb * 1024) for kb in _worker_peaks(server).values())


def pipeline_peak(path, pipeline: str) -> dict:
    done = subprocess.run([PYTHON, "-c", PIPELINE_PEAK, str(ROOT), str(path), pipeline], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-500:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(server, token: str, workdir) -> list[Figure]:
    log("memory: making 24 MP camera JPEGs")
    photos = [big_camera(1), big_camera(2)]
    idle = _worker_peaks(server)
    log(f"memory: {SEQUENTIAL} sequential uploads")
    statuses = [_upload(server.url, token, photos[i % len(photos)]) for i in range(SEQUENTIAL)]
    if any(s != 201 for s in statuses):
        return [failed(SECTION, "peak RSS of a worker, 24 MP uploads", f"upload answers {statuses}")]
    sequential = _worker_peaks(server)
    figures = [
        info(SECTION, "test photos", f"6000×4000 JPEG, EXIF orientation 6, "
                                     f"{fmt_mb(len(photos[0]))} / {fmt_mb(len(photos[1]))}"),
        info(SECTION, "worker VmHWM after start-up (fresh server, before uploads)",
             " / ".join(fmt_mb(kb * 1024) for kb in idle.values())),
        budget(SECTION, f"peak RSS of a worker, {SEQUENTIAL} sequential 24 MP uploads",
               fmt_mb(max(sequential.values()) * 1024), f"≤ {LIMIT_MB} MB",
               max(sequential.values()) <= LIMIT_MB * 1024,
               "per worker: " + " / ".join(fmt_mb(kb * 1024) for kb in sequential.values())),
    ]

    log("memory: 4 concurrent uploads")
    answers: list[int] = []
    threads = [threading.Thread(target=lambda i=i: answers.append(_upload(server.url, token, photos[i % 2])))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent = _worker_peaks(server)
    figures.append(info(SECTION, "peak RSS of a worker, 4 concurrent 24 MP uploads",
                        fmt_mb(max(concurrent.values()) * 1024),
                        f"answers {sorted(answers)}; per worker: "
                        + " / ".join(fmt_mb(kb * 1024) for kb in concurrent.values())))

    log("memory: pipelines alone")
    path = workdir / "24mp.jpg"
    path.write_bytes(photos[0])
    try:
        draft, naive = pipeline_peak(path, "draft"), pipeline_peak(path, "naive")
        figures.append(info(SECTION, "one 24 MP photo in-process: images.process vs naive_pipeline",
                            f"+{fmt_mb(draft['growth_kb'] * 1024)} / +{fmt_mb(naive['growth_kb'] * 1024)}",
                            f"peak RSS growth; time {draft['seconds'] * 1000:,.0f} ms vs "
                            f"{naive['seconds'] * 1000:,.0f} ms"))
    except Exception as exc:  # noqa: BLE001 - an info row, reported as such
        figures.append(info(SECTION, "one 24 MP photo in-process", "not measured", str(exc)[:200]))
    return figures
