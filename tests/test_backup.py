"""Backup and restore round-trip a populated instance: every row of every table, every photo's hash."""
from __future__ import annotations

import gc
import hashlib
import io
import json
import shutil
import threading
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import (JSON, Boolean, Date, DateTime, Float, Integer, LargeBinary, MetaData, Numeric, String,
                        Text, func, select)

from tests.factories import make_community, make_finding, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import Street
from webapp.services import backup as backup_service
from webapp.services.backup import BackupError
from webapp.storage import get_storage, key_for


@pytest.fixture(autouse=True)
def _release_leaked_connections():
    """Restore drops and recreates tables. A streamed response or a worker thread of an earlier test
    that was never closed can still hold a connection idle in a transaction until the garbage
    collector finalises it, and PostgreSQL's DROP waits on its lock: finalise them first."""
    gc.collect()
    yield


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((40 + seed, 30), 30 + seed).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


def _value_for(column, parent_value):
    """A plausible value for any column type, so tables added later are filled without new code here."""
    if column.foreign_keys:
        return parent_value
    kind = column.type
    if isinstance(kind, Boolean):
        return True
    if isinstance(kind, (Integer, Numeric)):
        return 3
    if isinstance(kind, Float):
        return 1.5
    if isinstance(kind, (DateTime,)) or type(kind).__name__ == "UTCDateTime":
        return datetime(2026, 3, 12, 1, 30, tzinfo=timezone.utc)
    if isinstance(kind, Date):
        return date(2026, 3, 12)
    if isinstance(kind, JSON):
        return {"备份": [1, "二", None]}
    if isinstance(kind, LargeBinary):
        return b"\x00\x01\xff"
    if getattr(kind, "enums", None):
        return kind.enums[0]
    if isinstance(kind, (String, Text)):
        value = "备份测试-" + column.name
        return value[: kind.length] if getattr(kind, "length", None) else value
    raise AssertionError(f"no test value for {column.table.name}.{column.name} ({kind!r})")


def reflected() -> MetaData:
    """The tables as the database has them (what a backup must carry), not only those the models map."""
    metadata = MetaData()
    metadata.reflect(bind=db.engine)
    return metadata


def fill_empty_tables() -> None:
    """One row in every mapped table the factories left empty, parents first."""
    for table in db.metadata.sorted_tables:
        if db.session.scalar(select(func.count()).select_from(table)):
            continue
        row = {}
        for column in table.columns:
            if column.primary_key and column.autoincrement is not False and isinstance(column.type, Integer) \
                    and not column.foreign_keys and len(table.primary_key.columns) == 1:
                continue
            parent = None
            if column.foreign_keys:
                target = next(iter(column.foreign_keys)).column
                parent = db.session.scalar(select(target).limit(1))
            row[column.name] = _value_for(column, parent)
        db.session.execute(table.insert().values(**row))
    db.session.commit()


def populate(app) -> dict[str, str]:
    """Places, users, findings and whatever else the schema holds; photos in the store. Returns key → sha256."""
    with app.app_context():
        street = make_street("南关街道")
        community = make_community(street, "五一社区")
        site = make_site(community, "胜利市场", kind="market", zones=("果蔬区", "活禽区"))
        inspector = make_user("insp", roles=("inspector",))
        make_user("desk", roles=("desk",))
        make_user("comm", roles=("community",), communities=[community])
        for i in range(3):
            make_finding(inspector, community, site=site, note=f"店外摆放 {i}")
        make_finding(inspector, community, kind="ok", site=site)
        db.session.commit()
        fill_empty_tables()
        store = get_storage(app)
        photos = {}
        for seed in range(5):
            data = jpeg(seed)
            digest = hashlib.sha256(data).hexdigest()
            store.put(key_for(digest), data)
            photos[key_for(digest)] = digest
        return photos


def snapshot(app) -> dict[str, list]:
    """Every row of every table (and the migration revision), in primary-key order."""
    with app.app_context():
        out = {}
        for table in reflected().sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in db.session.execute(select(table).order_by(*order))]
        db.session.remove()
        return out


def store_hashes(app) -> dict[str, str]:
    store = get_storage(app)
    return {key: hashlib.sha256(store.read(key)).hexdigest() for key in store.keys()}


def wipe(app) -> None:
    with app.app_context():
        db.session.remove()
        tables = reflected().sorted_tables
        with db.engine.begin() as conn:
            for table in reversed(tables):
                if table.name != "alembic_version":
                    conn.execute(table.delete())
    for child in Path(app.config["UPLOAD_DIR"]).iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    store = get_storage(app)  # the bucket too, when the suite runs with STORAGE=s3
    for key in list(store.keys()):
        store.delete(key)


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def test_round_trip_restores_every_row_and_photo(app, tmp_path):
    photos = populate(app)
    before = snapshot(app)
    assert [t.name for t in db.metadata.sorted_tables if not before[t.name]] == []
    assert before["alembic_version"]
    assert store_hashes(app) == photos

    dest = tmp_path / "backup"
    result = cli(app, "backup", str(dest))
    assert result.exit_code == 0, result.output
    assert "5 copied" in result.output

    manifest = json.loads((dest / "manifest.json").read_text())
    expected_kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    assert manifest["db"]["kind"] == expected_kind
    assert manifest["row_counts"] == {name: len(rows) for name, rows in before.items()}
    assert {k: v["sha256"] for k, v in manifest["photos"]["files"].items()} == photos
    assert manifest["created_at"].endswith("Z")
    for key, digest in photos.items():
        assert hashlib.sha256((dest / "photos" / key).read_bytes()).hexdigest() == digest

    wipe(app)
    assert snapshot(app) != before and store_hashes(app) == {}

    result = cli(app, "restore", str(dest))
    assert result.exit_code == 0, result.output
    assert snapshot(app) == before
    assert store_hashes(app) == photos

    # The restored database works for the app, not only for SELECT *.
    with app.app_context():
        db.session.add(Street(name="新街道"))
        db.session.commit()
        db.session.remove()


def test_restore_refuses_a_database_with_data_unless_forced(app, tmp_path):
    photos = populate(app)
    before = snapshot(app)
    dest = tmp_path / "backup"
    assert cli(app, "backup", str(dest)).exit_code == 0
    with app.app_context():
        db.session.add(Street(name="备份之后新增的街道"))
        db.session.commit()
        db.session.remove()

    result = cli(app, "restore", str(dest))
    assert result.exit_code != 0
    assert "--force" in result.output
    assert snapshot(app) != before  # nothing was touched

    result = cli(app, "restore", str(dest), "--force")
    assert result.exit_code == 0, result.output
    assert snapshot(app) == before
    assert store_hashes(app) == photos


def test_photos_are_copied_incrementally(app, tmp_path):
    photos = populate(app)
    dest = tmp_path / "backup"
    with app.app_context():
        first = backup_service.backup(dest, db.engine, get_storage(app))
        assert (first.copied, first.unchanged) == (5, 0)
        second = backup_service.backup(dest, db.engine, get_storage(app))
        assert (second.copied, second.unchanged, second.bytes_copied) == (0, 5, 0)
        # A damaged file in the backup is not trusted: it is copied again.
        victim = next(iter(photos))
        (dest / "photos" / victim).write_bytes(b"bit rot")
        data = jpeg(42)
        get_storage(app).put(key_for(hashlib.sha256(data).hexdigest()), data)
        third = backup_service.backup(dest, db.engine, get_storage(app))
        assert (third.copied, third.unchanged) == (2, 4)
        assert len(third.manifest["photos"]["files"]) == 6
        db.session.remove()


def test_a_damaged_backup_is_refused_before_anything_is_overwritten(app, tmp_path):
    photos = populate(app)
    dest = tmp_path / "backup"
    assert cli(app, "backup", str(dest)).exit_code == 0
    wipe(app)
    (dest / "photos" / next(iter(photos))).write_bytes(b"tampered")
    result = cli(app, "restore", str(dest))
    assert result.exit_code != 0 and "damaged" in result.output
    assert store_hashes(app) == {}
    with app.app_context():
        assert backup_service.database_is_empty(db.engine)
        db.session.remove()


def test_a_directory_without_manifest_is_not_a_backup(app, tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "db.sqlite3").write_bytes(b"")
    with app.app_context(), pytest.raises(BackupError, match="manifest"):
        backup_service.restore(tmp_path / "half", db.engine, get_storage(app))


def test_backup_while_the_app_writes_is_consistent(app, tmp_path):
    """Rows keep arriving during the backup; the dump and the manifest's counts agree, and restore proves it."""
    populate(app)
    stop = threading.Event()
    written = []

    def writer():
        with app.app_context():
            i = 0
            while not stop.is_set() and i < 2000:
                db.session.add(Street(name=f"并发街道{i}"))
                db.session.commit()
                written.append(i)
                i += 1
            db.session.remove()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            threading.Event().wait(0.01)
        with app.app_context():
            result = backup_service.backup(tmp_path / "b", db.engine, get_storage(app))
            db.session.remove()
    finally:
        stop.set()
        thread.join(30)
    counted = result.manifest["row_counts"]["streets"]
    assert 1 + 5 <= counted <= 1 + len(written)
    wipe(app)
    with app.app_context():
        db.session.remove()
        restored = backup_service.restore(tmp_path / "b", db.engine, get_storage(app))
        assert db.session.scalar(select(func.count()).select_from(Street)) == counted
        assert restored.rows == sum(result.manifest["row_counts"].values())
        db.session.remove()


def test_restore_on_postgresql_gives_up_on_a_database_still_in_use(app, tmp_path, monkeypatch):
    """A connection idle in a transaction (an app server left running) makes DROP wait forever;
    restore must stop with a reason instead of hanging."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("lock waits are PostgreSQL's; SQLite restores through the backup API")
    populate(app)
    dest = tmp_path / "backup"
    assert cli(app, "backup", str(dest)).exit_code == 0
    monkeypatch.setattr(backup_service, "PG_LOCK_TIMEOUT", "500ms")
    with app.app_context():
        holder = db.engine.connect()
        holder.execute(Street.__table__.select().limit(1)).all()  # a read lock held in an open transaction
        try:
            with pytest.raises(BackupError, match="stop the app servers"):
                backup_service.restore(dest, db.engine, get_storage(app), force=True)
        finally:
            holder.rollback()
            holder.close()
