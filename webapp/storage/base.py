"""The photo store's interface: content-addressed blobs, so a key names its bytes and a write is idempotent.

Kept to five verbs so a second backend (S3 or any object store) is a small class: keys are
``ab/cd/<sha256>.jpg``, values are bytes; ``put`` must be durable when it returns, because the
database row that points at the key is committed right after.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

KEY_RE = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.jpg$")


class InvalidKey(ValueError):
    pass


def key_for(sha256: str, ext: str = "jpg") -> str:
    """``ab/cd/abcd….jpg``: two directory levels keep any one directory small."""
    sha256 = sha256.lower()
    key = f"{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"
    check_key(key)
    return key


def check_key(key: str) -> str:
    """Only keys we make are accepted: never a client filename, never ``..``."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidKey(f"not a storage key: {key!r}")
    return key


class PhotoStore(ABC):
    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` durably; storing the same key again only refreshes its age."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary file; raises FileNotFoundError when the key is absent."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the key; returns False when it was not there."""

    @abstractmethod
    def keys(self, older_than: datetime | None = None) -> Iterator[str]:
        """Every stored key, or only those last written before ``older_than`` (for the garbage collector)."""

    def read(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def is_older_than(self, key: str, moment: datetime) -> bool:
        """Re-checked right before gc deletes, so a key re-put by an upload in flight survives."""
        return True

    def cleanup(self, older_than: datetime) -> int:
        """Remove a backend's leftovers (interrupted writes); returns how many. Nothing by default."""
        return 0
