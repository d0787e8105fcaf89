"""The shipped server, as `make run` and docs/deploy.md start it: gunicorn with gunicorn.conf.py.

Nothing is tuned for the benchmark: worker count, worker class and threads are the configuration's
own defaults for this machine (one worker per core, gthread, 4 threads). The JSON request log the
app writes (one line per request, with method, path, status and the app's own duration) is kept in
a file, so requests can be counted at the server rather than trusted from a client.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from .common import PYTHON, ROOT, children, free_port


class Gunicorn:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Gunicorn:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "webapp:create_app()"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200 and self.ready_workers():
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start:\n{self.log_text()[-3000:]}")

    def ready_workers(self) -> bool:
        """Every configured worker has booted (the first answers come before the others exist)."""
        expected = int(self.env.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
        return len(self.worker_pids()) >= expected

    def worker_pids(self) -> list[int]:
        return children(self.process.pid) if self.process else []

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_offset(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def requests_since(self, offset: int) -> list[dict]:
        """The app's request-log records written after ``offset`` (bytes into the log file)."""
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode(errors="replace").splitlines()
        records = []
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "method" in record and "path" in record:
                records.append(record)
        return records

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=35)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
