"""Online backup and restore of the database and the photo store.

A backup directory holds ``db.sqlite3`` (SQLite's online backup API: a consistent copy while the app
keeps writing) or ``db.pgdump`` (pg_dump, custom format), the photo store under ``photos/`` by storage
key, and ``manifest.json``: when, which database, the row count of every table in the same snapshot
as the dump, and the sha256 of every file. The manifest is written last, so a directory without one
is an interrupted backup, never mistaken for a complete one.

Order matters. Photos are written before the row that points at them is committed, so copying the
database first and the photos second captures every photo the copied rows reference (a photo that
arrives in between is copied too, harmlessly unreferenced). Restore runs the other way round:
photos first, then the rows.

Photos are incremental: a key names its bytes, so a file already in the backup whose hash matches its
name is not read from the store again. Files are never deleted from a backup directory; the manifest
says which belong to this backup.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from ..storage import PhotoStore, check_key
from ..storage.local import fsync_dir

FORMAT = "xuncha-backup/1"
MANIFEST = "manifest.json"
PHOTO_DIR = "photos"
SQLITE_FILE = "db.sqlite3"
PG_FILE = "db.pgdump"
TEMP_PREFIX = ".tmp-"
HASH_IN_KEY = re.compile(r"([0-9a-f]{64})\.[a-z]+$")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what to do."""


@dataclass
class BackupResult:
    manifest: dict
    copied: int = 0
    unchanged: int = 0
    bytes_copied: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class RestoreResult:
    manifest: dict
    photos_written: int = 0
    photos_present: int = 0
    rows: int = 0


# --- helpers --------------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def _finish_file(tmp: Path, target: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    fsync_dir(target.parent)


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} holds no {MANIFEST}: not a backup, or an interrupted one")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r}")
    return manifest


def _previous_manifest(directory: Path) -> dict | None:
    try:
        return read_manifest(directory)
    except (BackupError, ValueError):
        return None


# --- database: which kind, which tables -------------------------------------------------------------

def db_kind(engine: Engine) -> str:
    name = engine.dialect.name
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise BackupError(f"backups of {name} databases are not supported")


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or "mode=memory" in str(engine.url):
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database).resolve()


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                        "ORDER BY name").fetchall()
    return [r[0] for r in rows]


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _sqlite_tables(conn)}


def _pg_schema(conn) -> str:
    return conn.execute(text("SELECT current_schema()")).scalar_one()


def _pg_tables(conn, schema: str) -> list[str]:
    return list(conn.execute(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND table_type = 'BASE TABLE' "
        "ORDER BY table_name"), {"s": schema}).scalars())


def _pg_counts(conn, schema: str) -> dict[str, int]:
    return {t: conn.execute(text(f'SELECT count(*) FROM "{schema}"."{t}"')).scalar_one()
            for t in _pg_tables(conn, schema)}


def _pg_client_env(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password (it goes in PGPASSWORD, out of the process list)."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str]) -> str:
    if shutil.which(args[0]) is None:
        raise BackupError(f"{args[0]} is not installed; it is needed for PostgreSQL backups")
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table of the live database (used by restore's check and by tests)."""
    if db_kind(engine) == "sqlite":
        with engine.connect() as conn:
            return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                    for t in conn.execute(text(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                        "ORDER BY name")).scalars()}
    with engine.connect() as conn:
        return _pg_counts(conn, _pg_schema(conn))


def _alembic_revision(counts: dict[str, int], fetch) -> str | None:
    if counts.get("alembic_version"):
        return fetch()
    return None


# --- backup ---------------------------------------------------------------------------------------

def _backup_sqlite(engine: Engine, dest: Path) -> dict:
    source_path = _sqlite_path(engine)
    if not source_path.is_file():
        raise BackupError(f"no database file at {source_path}")
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        source = sqlite3.connect(source_path, timeout=30)
        target = sqlite3.connect(tmp)
        try:
            # One step: the whole copy is read under a single read transaction, so it is consistent
            # even while gunicorn workers keep committing (WAL lets them).
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            check = target.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copied database fails its integrity check: {check}")
            counts = _sqlite_counts(target)
            revision = _alembic_revision(
                counts, lambda: target.execute("SELECT version_num FROM alembic_version").fetchone()[0])
        finally:
            target.close()
            source.close()
        final = dest / SQLITE_FILE
        _finish_file(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"kind": "sqlite", "file": SQLITE_FILE, "sha256": sha256_file(final), "bytes": final.stat().st_size,
            "schema": None, "alembic_revision": revision, "row_counts": counts}


def _backup_postgresql(engine: Engine, dest: Path) -> dict:
    url, env = _pg_client_env(engine)
    tmp = dest / f"{TEMP_PREFIX}{os.getpid()}.pgdump"
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # pg_dump joins this transaction's snapshot, so the dump and the counts below agree
                # exactly even while the app writes.
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                schema = _pg_schema(conn)
                counts = _pg_counts(conn, schema)
                revision = _alembic_revision(counts, lambda: conn.execute(
                    text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar_one())
                _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                      f"--schema={schema}", f"--file={tmp}", url], env)
        final = dest / PG_FILE
        _finish_file(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"kind": "postgresql", "file": PG_FILE, "sha256": sha256_file(final), "bytes": final.stat().st_size,
            "schema": schema, "alembic_revision": revision, "row_counts": counts}


def _backup_photos(store: PhotoStore, dest: Path, previous: dict | None, result: BackupResult) -> dict:
    photo_root = dest / PHOTO_DIR
    known = (previous or {}).get("photos", {}).get("files", {})
    files: dict[str, dict] = {}
    for key in sorted(store.keys()):
        target = photo_root / check_key(key)
        named = HASH_IN_KEY.search(key)
        expected = named.group(1) if named else known.get(key, {}).get("sha256")
        if target.is_file() and expected and sha256_file(target) == expected:
            files[key] = {"sha256": expected, "bytes": target.stat().st_size}
            result.unchanged += 1
            continue
        try:
            data = store.read(key)
        except FileNotFoundError:
            continue  # collected by gc after it was listed: no row of this backup can point at it
        digest = hashlib.sha256(data).hexdigest()
        if expected and digest != expected:
            result.warnings.append(f"{key}: stored bytes hash to {digest}, not to their name (damaged on disk?)")
        _write_atomic(target, data)
        files[key] = {"sha256": digest, "bytes": len(data)}
        result.copied += 1
        result.bytes_copied += len(data)
    return {"dir": PHOTO_DIR, "files": files}


def backup(dest: Path, engine: Engine, store: PhotoStore, *, now: datetime | None = None) -> BackupResult:
    """Back up the database, then the photo store, into ``dest``; the manifest is written last."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    previous = _previous_manifest(dest)
    (dest / MANIFEST).unlink(missing_ok=True)  # until this run completes, the directory is not a backup
    started = now or datetime.now(timezone.utc)
    database = _backup_sqlite(engine, dest) if db_kind(engine) == "sqlite" else _backup_postgresql(engine, dest)
    result = BackupResult(manifest={})
    photos = _backup_photos(store, dest, previous, result)
    counts = database.pop("row_counts")
    manifest = {
        "format": FORMAT,
        "created_at": _utc_iso(started),
        "finished_at": _utc_iso(datetime.now(timezone.utc)),
        "db": database,
        "row_counts": counts,
        "photos": photos,
        "warnings": result.warnings,
    }
    _write_atomic(dest / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    result.manifest = manifest
    return result


# --- restore --------------------------------------------------------------------------------------

def _verify_backup(src: Path, manifest: dict) -> None:
    """Every file the manifest names is there with its hash, before anything is overwritten."""
    db_file = src / manifest["db"]["file"]
    if not db_file.is_file() or sha256_file(db_file) != manifest["db"]["sha256"]:
        raise BackupError(f"{db_file} is missing or does not match the manifest")
    for key, meta in manifest["photos"]["files"].items():
        path = src / PHOTO_DIR / check_key(key)
        if not path.is_file() or sha256_file(path) != meta["sha256"]:
            raise BackupError(f"photo {key} is missing from the backup or damaged")


def _restore_photos(src: Path, manifest: dict, store: PhotoStore, result: RestoreResult) -> None:
    for key, meta in sorted(manifest["photos"]["files"].items()):
        if store.exists(key):
            if hashlib.sha256(store.read(key)).hexdigest() == meta["sha256"]:
                result.photos_present += 1
                continue
            store.delete(key)  # a damaged copy: replace it
        store.put(key, (src / PHOTO_DIR / key).read_bytes())
        result.photos_written += 1


def _restore_sqlite(engine: Engine, src: Path, manifest: dict) -> None:
    target_path = _sqlite_path(engine)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    engine.dispose()
    source = sqlite3.connect(src / manifest["db"]["file"])
    target = sqlite3.connect(target_path, timeout=30)
    try:
        # The backup API writes through SQLite itself, so a -wal file beside the target stays coherent
        # (copying the file over it would let the old WAL replay onto the new pages).
        source.backup(target)
    finally:
        target.close()
        source.close()
    engine.dispose()


PG_LOCK_TIMEOUT = "20s"


def _pg_drop_schema_objects(conn, schema: str) -> None:
    for table in _pg_tables(conn, schema):
        conn.execute(text(f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE'))
    for (seq,) in conn.execute(text(
            "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = :s"), {"s": schema}):
        conn.execute(text(f'DROP SEQUENCE IF EXISTS "{schema}"."{seq}" CASCADE'))
    for (typ,) in conn.execute(text(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = :s AND t.typtype = 'e'"), {"s": schema}):
        conn.execute(text(f'DROP TYPE IF EXISTS "{schema}"."{typ}" CASCADE'))


def _restore_postgresql(engine: Engine, src: Path, manifest: dict) -> None:
    url, env = _pg_client_env(engine)
    dump = src / manifest["db"]["file"]
    with engine.begin() as conn:
        schema = _pg_schema(conn)
        if schema != manifest["db"]["schema"]:
            raise BackupError(f"the backup is of schema {manifest['db']['schema']!r}; this database uses "
                              f"{schema!r}: set its search_path to match")
        # A running app server holds locks that DROP waits on forever; fail with a reason instead.
        conn.execute(text(f"SET LOCAL lock_timeout = '{PG_LOCK_TIMEOUT}'"))
        try:
            _pg_drop_schema_objects(conn, schema)
        except OperationalError as exc:
            raise BackupError("other connections are using the database: stop the app servers and "
                              "workers, then restore again") from exc
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    # The schema exists already (it may hold grants and extensions we keep), so its own entry is skipped.
    toc = _run(["pg_restore", "--list", str(dump)], env)
    keep = [line for line in toc.splitlines()
            if not re.match(rf"^\d+;\s+\d+\s+\d+\s+SCHEMA\s+-\s+{re.escape(schema)}\b", line)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as fh:
        fh.write("\n".join(keep) + "\n")
        list_file = fh.name
    try:
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--use-list={list_file}", f"--dbname={url}", str(dump)], env)
    finally:
        os.unlink(list_file)


def database_is_empty(engine: Engine) -> bool:
    counts = row_counts(engine)
    return not any(n for table, n in counts.items() if table != "alembic_version")


def restore(src: Path, engine: Engine, store: PhotoStore, *, force: bool = False) -> RestoreResult:
    """Bring back the photos, then the database; refuses to overwrite rows unless ``force``."""
    src = Path(src)
    manifest = read_manifest(src)
    kind = db_kind(engine)
    if manifest["db"]["kind"] != kind:
        raise BackupError(f"the backup holds a {manifest['db']['kind']} database; this app uses {kind}")
    _verify_backup(src, manifest)
    if not force and not database_is_empty(engine):
        raise BackupError("the database already holds data; restore with --force to replace it")
    result = RestoreResult(manifest=manifest)
    _restore_photos(src, manifest, store, result)
    if kind == "sqlite":
        _restore_sqlite(engine, src, manifest)
    else:
        _restore_postgresql(engine, src, manifest)
    counts = row_counts(engine)
    if counts != manifest["row_counts"]:
        raise BackupError(f"restored row counts differ from the manifest: {counts} != {manifest['row_counts']}")
    result.rows = sum(counts.values())
    return result
