"""The local content-addressed store: safe keys only, atomic durable writes, listing by age."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from webapp.storage import InvalidKey, LocalStore, check_key, get_storage, key_for
from webapp.storage import local as local_backend

SHA = "0123456789abcdef" * 4


def test_key_layout():
    assert key_for(SHA) == f"01/23/{SHA}.jpg"
    assert key_for(SHA.upper()) == f"01/23/{SHA}.jpg"


@pytest.mark.parametrize("bad", ["../etc/passwd", f"01/23/../{SHA}.jpg", f"/01/23/{SHA}.jpg", "photo.jpg",
                                 f"01/23/{SHA}.png", f"01\\23\\{SHA}.jpg", f"01/24/{SHA[:-1]}.jpg", ""])
def test_only_our_keys_are_accepted(tmp_path, bad):
    store = LocalStore(tmp_path)
    with pytest.raises(InvalidKey):
        check_key(bad)
    with pytest.raises(InvalidKey):
        store.put(bad, b"x")
    with pytest.raises(InvalidKey):
        store.open(bad)


def test_put_open_exists_delete(tmp_path):
    store = LocalStore(tmp_path)
    key = key_for(SHA)
    assert not store.exists(key)
    store.put(key, b"hello")
    assert store.exists(key) and store.read(key) == b"hello"
    assert (tmp_path / "01" / "23" / f"{SHA}.jpg").read_bytes() == b"hello"
    assert [p.name for p in (tmp_path / "01" / "23").iterdir()] == [f"{SHA}.jpg"]  # no temp file left
    assert store.delete(key) and not store.exists(key)
    assert store.delete(key) is False
    with pytest.raises(FileNotFoundError):
        store.open(key)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        store.put(key_for(SHA), b"data")
    monkeypatch.undo()
    assert not store.exists(key_for(SHA))
    assert list((tmp_path / "01" / "23").iterdir()) == []


def test_keys_by_age(tmp_path):
    store = LocalStore(tmp_path)
    old, new = key_for("aa" * 32), key_for("bb" * 32)
    store.put(old, b"1")
    store.put(new, b"2")
    past = time.time() - 7200
    os.utime(store.path(old), (past, past))
    (tmp_path / "aa" / "aa" / ".tmp-x").write_bytes(b"")
    assert sorted(store.keys()) == sorted([old, new])
    assert list(store.keys(older_than=datetime.now(timezone.utc) - timedelta(hours=1))) == [old]


def test_get_storage_from_config(tmp_path):
    store = get_storage({"UPLOAD_DIR": str(tmp_path)})
    assert isinstance(store, LocalStore) and store is get_storage({"UPLOAD_DIR": str(tmp_path)})
    with pytest.raises(ValueError):
        get_storage({"UPLOAD_DIR": str(tmp_path), "PHOTO_STORE": "ftp"})


def test_new_directories_are_made_durable_with_the_file(tmp_path, monkeypatch):
    """A file in a directory created a moment ago is only durable once that directory's own entry is:
    ``ab/`` in the root and ``ab/cd/`` in ``ab/`` are synced as they are created, later writes sync one."""
    store = LocalStore(tmp_path)
    synced = []
    real_fsync_dir = local_backend.fsync_dir
    monkeypatch.setattr(local_backend, "fsync_dir", lambda path: (synced.append(Path(path)), real_fsync_dir(path)))
    store.put(key_for(SHA), b"first")
    assert synced == [tmp_path.resolve(), tmp_path.resolve() / "01", tmp_path.resolve() / "01" / "23"]
    synced.clear()
    store.put(key_for("0123" + "f" * 60), b"second")  # same directories
    assert synced == [tmp_path.resolve() / "01" / "23"]
