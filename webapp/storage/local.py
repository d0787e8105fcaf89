"""The local-disk backend: files under UPLOAD_DIR, written atomically and durably.

Write order: temp file in the target directory → fsync → rename over the final name → fsync the
directory (and, when ``ab/`` or ``ab/cd/`` was just created, its parent). A crash at any point leaves
either the complete file or a ``.tmp-*`` leftover that ``cleanup`` removes; never a half-written file
under a real key.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from .base import PhotoStore, check_key

TEMP_PREFIX = ".tmp-"


class LocalStore(PhotoStore):
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        """Join safely: the key pattern forbids traversal, and the resolved path must stay under root."""
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        try:
            # Same key = same bytes: only refresh the age so a concurrent gc leaves it alone.
            os.utime(target)
            return
        except FileNotFoundError:
            pass
        self._make_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        fsync_dir(target.parent)

    def _make_dirs(self, directory: Path) -> None:
        """Create ``ab/cd/`` as needed; a new directory's entry in its parent is made durable too, or a
        crash could lose the directory and with it the file the committed row points at."""
        if directory.is_dir():
            return
        new = [d for d in (directory.parent, directory) if not d.is_dir()]
        directory.mkdir(parents=True, exist_ok=True)
        for created in new:
            fsync_dir(created.parent)

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> bool:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def keys(self, older_than: datetime | None = None) -> Iterator[str]:
        limit = older_than.timestamp() if older_than else None
        for path in self._files():
            if path.name.startswith(TEMP_PREFIX):
                continue
            key = path.relative_to(self.root).as_posix()
            try:
                check_key(key)
            except ValueError:
                continue  # not ours (a stray file an operator put there): leave it alone
            if limit is None or _mtime(path) < limit:
                yield key

    def is_older_than(self, key: str, moment: datetime) -> bool:
        try:
            return _mtime(self.path(key)) < moment.timestamp()
        except FileNotFoundError:
            return False

    def cleanup(self, older_than: datetime) -> int:
        limit = older_than.timestamp()
        removed = 0
        for path in self._files():
            if path.name.startswith(TEMP_PREFIX) and _mtime(path) < limit:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _files(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not (first.is_dir() and len(first.name) == 2):
                continue
            for second in sorted(first.iterdir()):
                if second.is_dir():
                    yield from (p for p in sorted(second.iterdir()) if p.is_file())


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable: the directory entry is data too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
