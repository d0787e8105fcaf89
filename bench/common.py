"""What every measurement shares: the result row, the machine description, timing and the work folder.

A figure is either held to a budget (pass/FAIL) or printed for information beside one (the anchor a
budget is compared with, a breakdown, a count that explains a result); information rows never fail.
"""
from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Figure:
    section: str
    name: str
    value: str
    budget: str = ""
    ok: bool | None = None  # None: information, no budget
    note: str = ""

    @property
    def result(self) -> str:
        return "info" if self.ok is None else ("pass" if self.ok else "FAIL")


def info(section: str, name: str, value: str, note: str = "") -> Figure:
    return Figure(section, name, value, "", None, note)


def budget(section: str, name: str, value: str, limit: str, ok: bool, note: str = "") -> Figure:
    return Figure(section, name, value, limit, bool(ok), note)


def failed(section: str, name: str, error: str) -> Figure:
    """A measurement that could not be taken is a failed budget, never a silent gap in the table."""
    return Figure(section, name, "not measured", "must run", False, error[:300])


# --- timing -------------------------------------------------------------------------------------------

def median_ms(fn: Callable[[], object], runs: int = 5, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` in milliseconds after ``warmup`` untimed calls, and every sample."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), samples


def paired_median_ms(a: Callable[[], object], b: Callable[[], object], runs: int = 15) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` sampled alternately, so load that comes and goes on a shared machine
    falls on both sides of a ratio alike."""
    a()
    b()
    sa, sb = [], []
    for _ in range(runs):
        for fn, samples in ((a, sa), (b, sb)):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(sa), statistics.median(sb)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def fmt_ms(ms: float) -> str:
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def fmt_kb(n: int | float) -> str:
    return f"{n / 1024:,.1f} KB"


def fmt_mb(n: int | float) -> str:
    return f"{n / (1024 * 1024):,.1f} MB"


# --- machine ------------------------------------------------------------------------------------------

def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, str]:
    """uname, CPU model, cores and RAM, read from the kernel (no extra dependency)."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    u = platform.uname()
    return {
        "uname": f"{u.system} {u.release} {u.machine}",
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "python": platform.python_version(),
        "sqlite": __import__("sqlite3").sqlite_version,
    }


# --- processes ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_status_kb(pid: int | str, field: str) -> int | None:
    """A ``/proc/<pid>/status`` field in kB (VmRSS, VmHWM …), or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def minor_faults(pid: int) -> int:
    """Minor page faults a process has taken (0 when it is gone): memory the kernel had to map in."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
    except OSError:
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (0 when it is gone): a figure the machine's other
    load does not change, unlike wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime and stime are fields 14 and 15 (man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of a process, from /proc (gunicorn's workers are the master's children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def flask_cli(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run ``flask <args>`` with the bench's environment; the output, or an error with it."""
    done = subprocess.run([PYTHON, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def base_env(workdir: Path, db_path: Path, *, production: bool = True) -> dict[str, str]:
    """The environment of a server (or CLI) over one benchmark database and photo store."""
    env = {
        **os.environ,
        "FLASK_APP": "webapp",
        "XUNCHA_ENV": "production" if production else "development",
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "SESSION_COOKIE_SECURE": "0",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "UPLOAD_DIR": str(workdir / "uploads"),
        "INSTANCE_DIR": str(workdir / "instance"),
        "LOG_FORMAT": "json",
    }
    for name in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "GUNICORN_THREADS", "TEST_DATABASE_URL", "STORAGE"):
        env.pop(name, None)
    return env


def prepare_database(workdir: Path, db_path: Path) -> dict[str, str]:
    """Migrate an empty database and seed the demo places, categories and users (no history)."""
    env = base_env(workdir, db_path, production=False)
    env["DEMO_MODE"] = "1"
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "seed-demo", "--no-history")
    return env


def create_token(env: dict[str, str], username: str) -> str:
    return flask_cli(env, "create-token", username, "--name", "bench").strip().splitlines()[-1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the app in this process (queue and report measurements) ---------------------------------------

def bench_app(db_path: Path, workdir: Path):
    """The production configuration over a benchmark database, for the test client and service calls.

    "Server time" for these figures is time inside the app: no socket, no client, no proxy.
    """
    from webapp import create_app, sqlite_tuning

    # Measurements read like GET requests do: a plain BEGIN, not the BEGIN IMMEDIATE a write takes.
    sqlite_tuning.set_write_intent(False)
    return create_app({
        "ENV_NAME": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "SECRET_KEY": "bench-secret-key-not-for-production", "UPLOAD_DIR": str(workdir / "uploads"),
        "SESSION_COOKIE_SECURE": False, "LOG_LEVEL": "WARNING",
    })


def user_token(app, username: str) -> str:
    """A bearer token for a demo account, issued through the app's own token code."""
    from sqlalchemy import select

    from webapp.auth.tokens import issue_token
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        raw = issue_token(user, "bench")
        db.session.commit()
        return raw


def emit(figures: list[Figure]) -> None:
    """A measurement run as a subprocess hands its rows to run.py as one JSON line on stdout."""
    import json
    from dataclasses import asdict

    print("FIGURES " + json.dumps([asdict(f) for f in figures], ensure_ascii=False), flush=True)


def collect(module: str, *args: str, timeout: float = 900) -> list[Figure]:
    """Run ``python -m bench.<module> <args>`` and read its rows (a crash becomes a failed row)."""
    import json

    done = subprocess.run([PYTHON, "-m", f"bench.{module}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    sys.stderr.write(done.stderr[-4000:] if done.returncode else "")
    for line in done.stdout.splitlines():
        if line.startswith("FIGURES "):
            return [Figure(**row) for row in json.loads(line[len("FIGURES "):])]
    return [failed(module, f"bench.{module}", f"exit {done.returncode}: {done.stderr.strip()[-300:]}")]
