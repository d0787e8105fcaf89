"""`flask gc`: stale unattached photos go (rows and files), unreferenced files go, nothing young or
still referenced is touched."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api_support import digest, fast_user, jpeg, new_uuid
from tests.factories import category, make_community
from webapp.extensions import db
from webapp.models import Photo
from webapp.services.findings import create_finding
from webapp.services.photos import collect_garbage, ingest_photo
from webapp.storage import get_storage, key_for

DAY = 86400


@pytest.fixture
def store(app):
    if app.config.get("PHOTO_STORE", "local") != "local":
        pytest.skip("file ages are set on the local disk store")
    return get_storage(app)


def age(store, sha: str, seconds: float) -> None:
    path = store.path(key_for(sha))
    old = time.time() - seconds
    os.utime(path, (old, old))


def upload(user, data=None) -> Photo:
    data = data or jpeg((400, 300))
    photo, _ = ingest_photo(user, new_uuid(), data, "image/jpeg", digest(data))
    return photo


def keys_of(photo: Photo) -> list[str]:
    return [photo.sha256, photo.view_sha256, photo.thumb_sha256] + ([photo.marked_sha256] if photo.marked_sha256 else [])


def test_gc_deletes_stale_unattached_photos_and_their_files(app, store):
    with app.app_context():
        user = fast_user("insp")
        community = make_community(name="文苑社区")
        category("litter")
        db.session.commit()
        stale, fresh, used = upload(user), upload(user), upload(user)
        create_finding(user, new_uuid(), {
            "kind": "problem", "captured_at": datetime.now(timezone.utc).isoformat(), "community_id": community.id,
            "category_code": "litter", "photo_ids": [used.uuid]})
        used = db.session.scalar(select(Photo).where(Photo.uuid == used.uuid))
        for photo in (stale, used):
            photo.created_at = datetime.now(timezone.utc) - timedelta(days=8)
            for sha in keys_of(photo):
                age(store, sha, 8 * DAY)
        db.session.commit()
        stale_keys, used_keys, fresh_keys = keys_of(stale), keys_of(used), keys_of(fresh)
        stale_uuid = stale.uuid

        counts = collect_garbage()

        assert counts["photos"] == 1
        assert counts["files"] == 3
        assert db.session.scalar(select(Photo).where(Photo.uuid == stale_uuid)) is None
        assert not any(store.exists(key_for(s)) for s in stale_keys)
        assert all(store.exists(key_for(s)) for s in used_keys + fresh_keys)


def test_gc_keeps_young_orphans_and_shared_files(app, store):
    """A file written by an upload whose row is not committed yet is young: kept. A file shared by two
    rows (same bytes uploaded twice) stays while any row references it."""
    with app.app_context():
        user = fast_user("insp")
        db.session.commit()
        data = jpeg((300, 200))
        a = upload(user, data)
        b = upload(user, data)
        assert a.sha256 == b.sha256
        a.created_at = datetime.now(timezone.utc) - timedelta(days=8)
        for sha in keys_of(a):
            age(store, sha, 8 * DAY)
        young = "ab" * 32
        store.put(key_for(young), b"in flight")
        old_orphan = "cd" * 32
        store.put(key_for(old_orphan), b"crashed before commit")
        age(store, old_orphan, 2 * 3600)
        db.session.commit()

        counts = collect_garbage()

        assert counts == {"photos": 1, "files": 1, "temp_files": 0}
        assert all(store.exists(key_for(s)) for s in keys_of(b))
        assert store.exists(key_for(young))
        assert not store.exists(key_for(old_orphan))


def test_gc_removes_interrupted_writes_and_ignores_foreign_files(app, store):
    with app.app_context():
        root = Path(app.config["UPLOAD_DIR"])
        leftover = root / "ab" / "cd" / ".tmp-crashed"
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_bytes(b"half")
        os.utime(leftover, (time.time() - 7200,) * 2)
        foreign = root / "README.txt"
        foreign.write_text("an operator's note")
        os.utime(foreign, (time.time() - 30 * DAY,) * 2)

        counts = collect_garbage()

        assert counts["temp_files"] == 1 and not leftover.exists()
        assert foreign.exists()


def test_gc_resend_refreshes_the_file_age(app, store):
    """A resend of the same bytes touches the stored file, so gc's age check spares it."""
    with app.app_context():
        store.put(key_for("ef" * 32), b"x")
        age(store, "ef" * 32, 3 * 3600)
        assert not store.is_older_than(key_for("ef" * 32), datetime.now(timezone.utc) - timedelta(hours=4))
        store.put(key_for("ef" * 32), b"x")
        assert not store.is_older_than(key_for("ef" * 32), datetime.now(timezone.utc) - timedelta(hours=1))
        assert collect_garbage()["files"] == 0


def test_gc_command_prints_counts(app, store):
    with app.app_context():
        user = fast_user("insp")
        db.session.commit()
        photo = upload(user)
        photo.created_at = datetime.now(timezone.utc) - timedelta(days=10)
        for sha in keys_of(photo):
            age(store, sha, 10 * DAY)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["gc"])
    assert result.exit_code == 0, result.output
    assert "photos deleted: 1" in result.output
    assert "unreferenced files deleted: 3" in result.output
