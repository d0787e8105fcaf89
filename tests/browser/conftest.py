"""Browser tests of the inspector PWA: Debian's Chromium driven by Playwright against the shipped
gunicorn server, which a test can SIGKILL and restart on the same port and database.

Playwright's offline switch does not cover requests a service worker makes, so "no network" here
means the server is down (connection refused for the page and the worker alike), usually together
with context.set_offline(True) for the page itself.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import make_community, make_site, make_street, make_user
from tests.live_server import free_port
from webapp import create_app
from webapp.extensions import db
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, MARKET_LAT, MARKET_LON, ROOT
from webapp.services.categories import ensure_categories



class Server:
    """gunicorn in its own process group: SIGKILL takes the master and its workers down at once,
    as a crash or an OOM kill would (killing only the master leaves workers serving)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = workdir / "live.sqlite3"
        self.upload_dir = workdir / "uploads"
        self.upload_dir.mkdir()
        self.env = {
            **os.environ,
            "FLASK_APP": "webapp",
            "XUNCHA_ENV": "production",
            "SECRET_KEY": "browser-test-secret",
            "SESSION_COOKIE_SECURE": "0",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "UPLOAD_DIR": str(self.upload_dir),
            "INSTANCE_DIR": str(workdir / "instance"),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "4",
            "LOG_FORMAT": "text",
        }
        self.env.pop("GUNICORN_CMD_ARGS", None)
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "gunicorn.log"
        self.starts = 0
        self.cwd = ROOT  # a test may start the server from a changed copy of the code: a deploy

    def deploy(self, change) -> Path:
        """Copy the application, let change(root) edit the copy, and restart the server from it."""
        root = self.workdir / f"deploy-{self.starts}"
        for name in ("webapp", "static", "templates"):
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "gunicorn.conf.py", root / "gunicorn.conf.py")
        change(root)
        self.kill()
        self.cwd = root
        self.start()
        return root

    def migrate(self) -> None:
        subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=self.env, check=True,
                       capture_output=True)

    def start(self, timeout: float = 30.0) -> None:
        assert not self.running
        self.starts += 1
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(self.cwd / "gunicorn.conf.py"), "webapp:create_app()"],
            cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
                    if b" 200 " in sock.recv(64):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not start:\n{self.log()[-3000:]}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole server, then wait until the port refuses connections."""
        if not self.running:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)
        raise RuntimeError("port still open after SIGKILL")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("live"))
    srv.migrate()
    srv.start()
    yield srv
    srv.kill()


@pytest.fixture(scope="session")
def data_app(server):
    """An app object in the test process over the server's database: factories and assertions."""
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{server.db_path}",
                       "UPLOAD_DIR": str(server.upload_dir)})


class Places:
    """What every browser test starts with: one inspector, two communities, a market with zones."""

    def __init__(self, app):
        self.app = app
        with app.app_context():
            ensure_categories()
            street = make_street("古楼街道")
            self.xiangjiang = make_community(street, "香江社区")
            self.wenyuan = make_community(street, "文苑社区")
            self.market = make_site(self.xiangjiang, "湖西早市", kind="market", zones=("果蔬区", "水产品区", "活禽区"),
                                    latitude=MARKET_LAT, longitude=MARKET_LON, address="湖西路")
            self.estate = make_site(self.wenyuan, "新嘉园小区", latitude=MARKET_LAT + 0.02, longitude=MARKET_LON + 0.02)
            self.inspector = make_user("insp", roles=("inspector",))
            self.inspector.display_name = "督导员甲"
            db.session.commit()
            self.ids = {"xiangjiang": self.xiangjiang.id, "wenyuan": self.wenyuan.id, "market": self.market.id,
                        "estate": self.estate.id, "inspector": self.inspector.id}


@pytest.fixture
def live(server, data_app):
    """The server up, from the repository's code, with fresh data, for one test."""
    if server.cwd != ROOT:
        server.kill()
        server.cwd = ROOT
    if not server.running:
        server.start()
    with data_app.app_context():
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.session.remove()
    for child in server.upload_dir.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    server.places = Places(data_app)
    yield server
    with data_app.app_context():
        db.session.remove()


@pytest.fixture(scope="module")
def playwright_instance():
    # Per module, not per session: a live sync_playwright() keeps an asyncio loop running, and other
    # browser tests (tests/test_csp_browser.py) start their own Playwright once this one has stopped.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


class Browser:
    """A persistent Chromium profile that a test can close and launch again, like a phone's browser."""

    def __init__(self, pw, profile: Path, base_url: str) -> None:
        self.pw = pw
        self.profile = profile
        self.base_url = base_url
        self.context = None

    def launch(self):
        self.context = self.pw.chromium.launch_persistent_context(
            str(self.profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            base_url=self.base_url, viewport={"width": 375, "height": 812}, device_scale_factor=2,
            is_mobile=True, has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai",
            permissions=["geolocation"], geolocation={"latitude": MARKET_LAT, "longitude": MARKET_LON, "accuracy": 12},
        )
        self.context.set_default_timeout(15000)
        return self.context

    def page(self):
        return self.context.pages[0] if self.context.pages else self.context.new_page()

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None


@pytest.fixture
def browser(playwright_instance, live, tmp_path):
    b = Browser(playwright_instance, tmp_path / "profile", live.url)
    b.launch()
    yield b
    b.close()


