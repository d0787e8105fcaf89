"""Sync under faults: five phones, 100 captures each, through a proxy that cuts connections, while the
server is killed with SIGKILL twice. Nothing may be lost, nothing duplicated, no photo altered, no
"database is locked" may reach a phone, and afterwards gc leaves exactly what is referenced.

The server is the real one: gunicorn with the shipped gunicorn.conf.py, two worker processes with
threads, over the test session's database (SQLite in the first `make test` pass, PostgreSQL in the
second). The phones behave like the PWA's outbox: each request is idempotent by the phone's uuid and
is retried until it gets an answer; some are sent twice on purpose; photo uploads go out shuffled and
sometimes ahead of the previous capture's finding, and some findings are sent before their photos.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from PIL import Image
from sqlalchemy import func, select

from tests.factories import category, make_community, make_site, make_street
from tests.live_server import ROOT, free_port, server_database_url
from tests.s3_support import server_env
from tests.workflow_support import fast_user
from webapp.auth.tokens import issue_token
from webapp.extensions import db
from webapp.models import Event, Finding, Photo
from webapp.models.mixins import utcnow
from webapp.services.photos import collect_garbage
from webapp.storage import get_storage, key_for

pytestmark = pytest.mark.slow

DEVICES = 5
CAPTURES = 100
SEED = int(os.environ.get("SOAK_SEED", "20261126"))
KILL_AT = (0.3, 0.65)  # fractions of all captures done when the server is SIGKILLed
DEADLINE_S = 240  # a hard stop, far above the ~1-2 minutes a run takes


# --- the fault-injecting proxy ------------------------------------------------------------------------

class FaultProxy:
    """A TCP proxy on loopback that cuts some connections after N bytes, in either direction.

    A cut on the way up is an upload dying mid-body; a cut on the way down is the worst case for sync:
    the server did the work and committed, and the phone never heard.
    """

    def __init__(self, upstream_port: int, seed: int, up: float = 0.07, down: float = 0.07) -> None:
        self.upstream_port = upstream_port
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.up, self.down = up, down
        self.cut_up = self.cut_down = self.refused = self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self.listener.getsockname()[1]
        self.closing = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self.lock:
            self.connections += 1
            roll = self.rng.random()
            limit_up = self.rng.randint(1, 60_000) if roll < self.up else None
            limit_down = self.rng.randint(1, 600) if self.up <= roll < self.up + self.down else None
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            with self.lock:
                self.refused += 1  # the server is down (killed, restarting): the phone sees a reset
            client.close()
            return
        upstream.settimeout(None)
        done = threading.Event()
        pumps = [threading.Thread(target=self._pump, args=(client, upstream, limit_up, "up", done), daemon=True),
                 threading.Thread(target=self._pump, args=(upstream, client, limit_down, "down", done), daemon=True)]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        for sock in (client, upstream):
            try:
                sock.close()
            except OSError:
                pass

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None, direction: str,
              done: threading.Event) -> None:
        sent = 0
        try:
            while not done.is_set():
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    with self.lock:
                        if direction == "up":
                            self.cut_up += 1
                        else:
                            self.cut_down += 1
                    done.set()
                    for sock in (src, dst):  # both ways at once, like a dropped mobile link
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            done.set()
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closing = True
        self.listener.close()


# --- the server, killable -----------------------------------------------------------------------------

class Gunicorn:
    """The shipped configuration in its own process group, so SIGKILL takes the arbiter and its workers."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.env.pop("GUNICORN_CMD_ARGS", None)
        self.log = open(log, "ab")
        self.process: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "webapp:create_app()"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("gunicorn did not come up")

    def kill(self) -> None:
        """SIGKILL to the whole group: no graceful shutdown, requests die mid-flight."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# --- the phones -------------------------------------------------------------------------------------

@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    repeats: int = 0
    findings_before_photos: int = 0
    early_photos: int = 0
    server_errors: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


@dataclass
class Capture:
    finding_id: str
    photos: list[tuple[str, bytes, str]]  # (uuid, bytes, sha256 hex)
    body: dict


def photo_bytes(rng: random.Random) -> bytes:
    """A small noisy 320x240 JPEG, different every time (the rng's bytes, not effect_noise's)."""
    img = Image.frombytes("L", (320, 240), rng.randbytes(320 * 240)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=60)
    return buf.getvalue()


def digest_header(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


class Phone(threading.Thread):
    def __init__(self, index: int, base_url: str, token: str, community_id: int, site_id: int, stats: Stats,
                 progress: list[int], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index, self.base_url, self.stats, self.progress, self.stop = index, base_url, stats, progress, stop
        self.rng = random.Random(SEED * 10 + index)
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
        self.community_id, self.site_id = community_id, site_id
        self.sent: list[Capture] = []
        self.uploaded: set[str] = set()
        self.error: BaseException | None = None

    def capture(self, i: int) -> Capture:
        photos = []
        for _ in range(2 if i % 3 == 0 else 1):
            data = photo_bytes(self.rng)
            photos.append((str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4)), data,
                           hashlib.sha256(data).hexdigest()))
        captured = datetime.now(timezone(timedelta(hours=8))) - timedelta(minutes=CAPTURES - i)
        body = {"kind": "problem", "captured_at": captured.isoformat(), "community_id": self.community_id,
                "site_id": self.site_id, "category_code": "litter", "note": f"手机{self.index} 第{i}条",
                "location": {"lat": 31.86 + i / 1e4, "lon": 117.28, "accuracy_m": 8},
                "photo_ids": [p[0] for p in photos]}
        return Capture(str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4)), photos, body)

    def send(self, method: str, path: str, *, data: bytes | None = None, json: dict | None = None,
             headers: dict | None = None) -> requests.Response:
        """Until an answer: a cut connection, a reset from a dead server or a 503 is retried."""
        delay = 0.05
        while not self.stop.is_set():
            self.stats.add(requests=1)
            try:
                response = requests.request(method, self.base_url + path, data=data, json=json,
                                            headers={**self.headers, **(headers or {})}, timeout=(3, 30))
            except requests.RequestException:
                self.stats.add(retries=1)
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            length = response.headers.get("Content-Length")
            if length is None or not length.isdigit() or len(response.content) != int(length):
                # Cut inside the headers or the body: urllib3 only warns about a truncated header block,
                # a browser's fetch() fails. Either way the phone never got an answer: send again.
                self.stats.add(retries=1)
                time.sleep(delay)
                continue
            text = response.text
            if "locked" in text.lower():
                with self.stats.lock:
                    self.stats.locked.append(f"{method} {path} {response.status_code}")
            if response.status_code >= 500:
                with self.stats.lock:
                    self.stats.server_errors.append(f"{method} {path} {response.status_code} {text[:200]}")
                self.stats.add(retries=1)
                time.sleep(delay)
                continue
            return response
        raise RuntimeError("stopped")

    def put_photo(self, photo: tuple[str, bytes, str]) -> None:
        uid, data, sha = photo
        response = self.send("PUT", f"/api/v1/photos/{uid}", data=data,
                             headers={"Content-Type": "image/jpeg", "Content-Digest": digest_header(data)})
        if response.status_code not in (200, 201) or response.json()["sha256"] != sha:
            with self.stats.lock:
                self.stats.unexpected.append(f"photo {uid}: {response.status_code} {response.text[:200]}")
        self.uploaded.add(uid)

    def put_finding(self, capture: Capture, *, photos_expected: bool = True) -> requests.Response:
        response = self.send("PUT", f"/api/v1/findings/{capture.finding_id}", json=capture.body)
        if photos_expected and response.status_code not in (200, 201):
            with self.stats.lock:
                self.stats.unexpected.append(f"finding {capture.finding_id}: {response.status_code} "
                                             f"{response.text[:300]}")
        return response

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            import traceback
            self.error = exc
            self.trace = traceback.format_exc()

    def _run(self) -> None:
        pending = self.capture(0)
        for i in range(CAPTURES):
            current = pending
            pending = self.capture(i + 1) if i + 1 < CAPTURES else None
            if self.rng.random() < 0.1:
                # The finding overtakes its photos: refused for the missing ones, nothing stored.
                early = self.put_finding(current, photos_expected=False)
                missing = early.json().get("error", {}).get("fields", {}).get("missing_photo_ids") \
                    if early.status_code == 422 else None
                if early.status_code != 422 or not missing:
                    if early.status_code not in (200, 201) or not all(p[0] in self.uploaded for p in current.photos):
                        with self.stats.lock:
                            self.stats.unexpected.append(f"early finding: {early.status_code} {early.text[:200]}")
                self.stats.add(findings_before_photos=1)
            order = list(current.photos)
            self.rng.shuffle(order)
            for photo in order:
                if photo[0] not in self.uploaded:
                    self.put_photo(photo)
            if pending is not None and self.rng.random() < 0.2:
                # The next capture's photos go out before this finding (the outbox works in parallel).
                for photo in pending.photos:
                    self.put_photo(photo)
                self.stats.add(early_photos=len(pending.photos))
            response = self.put_finding(current)
            if self.rng.random() < 0.15:
                again = self.put_finding(current)  # the phone never saw the first answer
                self.put_photo(self.rng.choice(current.photos))
                self.stats.add(repeats=2)
                if again.status_code != 200 or again.json()["id"] != response.json()["id"]:
                    with self.stats.lock:
                        self.stats.unexpected.append(f"repeat {current.finding_id}: {again.status_code}")
            self.sent.append(current)
            with self.stats.lock:
                self.progress[0] += 1


# --- the test ---------------------------------------------------------------------------------------

@pytest.fixture
def soak_world(app):
    with app.app_context():
        street = make_street("古楼街道")
        community = make_community(street, "香江社区")
        site = make_site(community, "湖西早市", kind="market", zones=("活禽区",))
        category("litter")
        tokens = [issue_token(fast_user(f"phone{i}", roles=("inspector",)), "soak") for i in range(DEVICES)]
        db.session.commit()
        world = (community.id, site.id, tokens)
        db.session.remove()
    return world


def test_sync_survives_cut_connections_repeats_reordering_and_sigkill(app, database_url, soak_world, tmp_path,
                                                                      capsys):
    community_id, site_id, tokens = soak_world
    env = {"XUNCHA_ENV": "production", "SECRET_KEY": "soak-test-key", "DATABASE_URL": server_database_url(database_url),
           "UPLOAD_DIR": str(app.config["UPLOAD_DIR"]), "INSTANCE_DIR": str(tmp_path / "instance"),
           "SESSION_COOKIE_SECURE": "0", "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", "LOG_FORMAT": "json",
           **server_env(app.config)}
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    proxy = None
    phones: list[Phone] = []
    stop = threading.Event()
    started = time.monotonic()
    try:
        server.start()
        proxy = FaultProxy(server.port, SEED)
        stats, progress = Stats(), [0]
        phones = [Phone(i, f"http://127.0.0.1:{proxy.port}", tokens[i], community_id, site_id, stats, progress, stop)
                  for i in range(DEVICES)]
        for phone in phones:
            phone.start()
        total = DEVICES * CAPTURES
        for fraction in KILL_AT:
            while progress[0] < fraction * total and any(p.is_alive() for p in phones):
                time.sleep(0.05)
                assert time.monotonic() - started < DEADLINE_S, "soak test ran out of time"
            server.kill()
            server.start()
        for phone in phones:
            phone.join(max(1.0, DEADLINE_S - (time.monotonic() - started)))
        stop.set()
        assert not [p for p in phones if p.is_alive()], "phones still syncing at the deadline"
        assert [p.error for p in phones if p.error] == [], [p.trace for p in phones if p.error][0]
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        if proxy is not None:
            proxy.close()
        server.stop()

    sent = {c.finding_id: c for phone in phones for c in phone.sent}
    device_photos = {uid: sha for c in sent.values() for uid, _, sha in c.photos}
    with app.app_context():
        db.session.remove()
        findings = db.session.scalars(select(Finding)).all()
        photos = db.session.scalars(select(Photo)).all()
        by_uuid = {f.uuid: f for f in findings}
        lost = [uid for uid in sent if uid not in by_uuid]
        duplicated = len(findings) - len(by_uuid) + len([uid for uid in by_uuid if uid not in sent])
        summary = (f"soak: {len(sent)} captures from {DEVICES} phones in {elapsed:.0f}s; requests sent "
                   f"{stats.requests}, retries {stats.retries}, repeats {stats.repeats}, findings sent before "
                   f"their photos {stats.findings_before_photos}, photos sent early {stats.early_photos}; faults "
                   f"injected: {proxy.cut_up} uploads cut, {proxy.cut_down} answers cut, {server.kills} SIGKILLs "
                   f"({proxy.refused} connections refused while down); lost={len(lost)}, duplicated={duplicated}, "
                   f"server errors={len(stats.server_errors)}, 'database is locked' seen={len(stats.locked)}")
        with capsys.disabled():
            print("\n" + summary)

        assert stats.server_errors == [], stats.server_errors[:5]
        assert stats.locked == []
        assert stats.unexpected == [], stats.unexpected[:5]
        assert proxy.cut_up > 0 and proxy.cut_down > 0 and server.kills == 2
        assert len(sent) == DEVICES * CAPTURES
        assert len(findings) == DEVICES * CAPTURES and lost == [] and duplicated == 0

        # Every photo as the phone sent it, attached where the phone said, nothing left over.
        assert len(photos) == len(device_photos)
        assert {p.uuid: p.received_sha256 for p in photos} == device_photos
        assert db.session.scalar(select(func.count()).select_from(Photo).where(Photo.finding_id.is_(None))) == 0
        for capture in sent.values():
            finding = by_uuid[capture.finding_id]
            assert [p.uuid for p in finding.photos] == [p[0] for p in capture.photos]
            assert [e.type for e in finding.events] == ["created"]
        assert db.session.scalar(select(func.count()).select_from(Event)) == len(findings)

        # Stored files: every referenced one is there and intact; gc (as run later, when the crash
        # leftovers are old enough) removes exactly the unreferenced ones.
        store = get_storage(app)
        referenced = {h for p in photos for h in (p.sha256, p.view_sha256, p.thumb_sha256, p.marked_sha256) if h}
        for sha in referenced:
            assert hashlib.sha256(store.read(key_for(sha))).hexdigest() == sha
        db.session.remove()  # our read transaction must not hold SQLite's lock while gc writes
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "gc"], cwd=ROOT,
                                env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "photos deleted: 0" in result.stdout
        collect_garbage(now=utcnow() + timedelta(days=8))
        db.session.remove()
        keys = set(store.keys())
        assert keys == {key_for(sha) for sha in referenced}
        leftovers = [p for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file() and p.name.startswith(".tmp")]
        assert leftovers == []
        assert db.session.scalar(select(func.count()).select_from(Finding)) == DEVICES * CAPTURES
        db.session.remove()
