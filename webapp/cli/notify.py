"""``flask notify``: the worker that posts queued chat-group notices (and queues the timed ones).

Run it from a systemd timer every minute (``--once``, the default) or as a long-running process
(``--loop``). Each pass queues overdue reminders and daily reports whose local time has come, then
sends whatever is due; a failed post is retried with backoff on a later pass.
"""
from __future__ import annotations

import signal
import threading

import click
from flask import current_app

from ..extensions import db
from ..services import notice_sender


@click.command("notify")
@click.option("--once/--loop", "once", default=True, help="One pass (for a timer), or keep running.")
@click.option("--interval", default=15.0, show_default=True, help="Seconds between passes with --loop.")
def notify(once: bool, interval: float) -> None:
    """Send chat-group notices that are due."""
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    while True:
        try:
            queued, stats = notice_sender.run_once()
        except Exception:  # noqa: BLE001 — a loop worker must survive a database hiccup
            db.session.rollback()
            current_app.logger.exception("notify pass failed")
            if once:
                raise
        else:
            if once or queued or stats.sent or stats.failed_attempts:
                click.echo(f"queued {queued}, sent {stats.sent}, failed attempts {stats.failed_attempts}, "
                           f"gave up {stats.gave_up}")
        finally:
            db.session.remove()
        if once or stop.wait(interval):
            return


COMMANDS = (notify,)
