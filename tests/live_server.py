"""Start the real server (gunicorn with the shipped gunicorn.conf.py) on a free loopback port.

Used where the in-process test client would hide the thing under test: worker model, logging,
several servers sharing one database and one bucket.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_database_url(database_url: tuple[str, dict]) -> str:
    """The test session's database as one URL a separate process can use (the PostgreSQL schema
    travels as libpq's ``options`` parameter, as the fixture's connect_args does in-process)."""
    url, engine_options = database_url
    options = engine_options.get("connect_args", {}).get("options")
    if options:
        url += ("&" if "?" in url else "?") + "options=" + quote(options)
    return url


class LiveServer:
    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "WEB_CONCURRENCY": "1",
                    "GUNICORN_THREADS": "2", **env}
        full_env.pop("GUNICORN_CMD_ARGS", None)
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "webapp:create_app()"],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> LiveServer:
        """Poll /healthz; on any failure the server is stopped, so no test leaves a gunicorn behind."""
        try:
            return self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> LiveServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                # The arbiter listens before its worker has loaded the app: a slow first answer is normal.
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self._log.closed:
            return
        if self.process.poll() is None:
            # SIGINT is gunicorn's quick shutdown: a test has nothing in flight worth waiting for.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_server(tmp_path: Path, database_url: tuple[str, dict], upload_dir: Path, *, wait: bool = True,
                 **env: str) -> LiveServer:
    """A production-configured server over the test session's database and the given photo store
    (``wait=False`` returns at once, so several servers can boot side by side; then ``wait_ready()``)."""
    base = {
        "XUNCHA_ENV": "production",
        "SECRET_KEY": "live-server-test-key",
        "DATABASE_URL": server_database_url(database_url),
        "UPLOAD_DIR": str(upload_dir),
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "SESSION_COOKIE_SECURE": "0",
    }
    server = LiveServer({**base, **env}, tmp_path / f"gunicorn-{free_port()}.log")
    return server.wait_ready() if wait else server
