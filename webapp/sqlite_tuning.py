"""SQLite settings for several gunicorn workers sharing one file.

pysqlite's own transaction handling opens deferred transactions lazily; a deferred transaction that
reads and then writes fails with SQLITE_BUSY (without waiting) when another worker committed in
between. So we take transaction control away from pysqlite and start write transactions with
``BEGIN IMMEDIATE``, which waits on the busy timeout instead. Reads (GET/HEAD requests) keep a plain
``BEGIN`` so they never queue behind writers under WAL.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine

_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)

BUSY_TIMEOUT_MS = 10_000


def set_write_intent(value: bool) -> contextvars.Token:
    return _write_intent.set(value)


def reset_write_intent(token: contextvars.Token) -> None:
    try:
        _write_intent.reset(token)
    except ValueError:
        # Set in another context (streamed response finished elsewhere): fall back to the default.
        _write_intent.set(True)


@contextlib.contextmanager
def write_intent() -> Iterator[None]:
    """Mark the transactions begun inside as writers (used by GET views that must write)."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, connection_record) -> None:
    if type(dbapi_connection).__module__.split(".")[0] not in {"sqlite3", "pysqlite2"}:
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(Engine, "begin")
def _on_begin(conn) -> None:
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")
