"""Copy one photo store into another, verifying every hash; safe to interrupt and run again.

Keys are content hashes, so verification needs no database: the bytes under ``ab/cd/<sha>.jpg`` must
hash to ``<sha>``. A key already at the destination with the right content is skipped (that is what
makes a second run resume), a wrong one is overwritten, and every upload is read back and hashed.
A source file whose bytes do not match its name is reported and not copied: the copy must never
turn a damaged photo into one the new store vouches for.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .base import PhotoStore

CHUNK = 1024 * 1024


@dataclass
class MigrationReport:
    copied: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, why)

    @property
    def ok(self) -> bool:
        return not self.failed


def sha_of_key(key: str) -> str:
    return key.rsplit("/", 1)[1].split(".", 1)[0]


def _read(store: PhotoStore, key: str) -> bytes | None:
    try:
        return store.read(key)
    except FileNotFoundError:
        return None


def _etag_matches(store: Any, key: str, data: bytes) -> bool:
    """S3 answers HEAD with an ETag that is the MD5 of a single-part upload: enough to recognise a
    finished copy without downloading it. Anything else (multipart, encrypted) falls back to reading."""
    etag = getattr(store, "etag", None)
    return etag is not None and etag(key) == hashlib.md5(data, usedforsecurity=False).hexdigest()


def copy_key(source: PhotoStore, dest: PhotoStore, key: str, *, dry_run: bool = False) -> str:
    """Copy one key; returns "copied" or "skipped", raises ValueError with the reason on failure."""
    expected = sha_of_key(key)
    data = _read(source, key)
    if data is None:
        raise ValueError("vanished from the source during the copy")
    if hashlib.sha256(data).hexdigest() != expected:
        raise ValueError("source bytes do not match the key's hash (damaged file): not copied")
    if _etag_matches(dest, key, data):
        return "skipped"
    present = _read(dest, key) if dest.exists(key) else None
    if present is not None and hashlib.sha256(present).hexdigest() == expected:
        return "skipped"
    if dry_run:
        return "copied"
    if present is not None:
        dest.delete(key)  # wrong bytes under a content key: replace rather than "refresh its age"
    dest.put(key, data)
    stored = _read(dest, key)
    if stored is None or hashlib.sha256(stored).hexdigest() != expected:
        raise ValueError("read-back after upload does not match the key's hash")
    return "copied"


def migrate(source: PhotoStore, dest: PhotoStore, *, keys: Iterable[str] | None = None, jobs: int = 8,
            dry_run: bool = False, progress: Callable[[str, str], None] | None = None) -> MigrationReport:
    """Copy every key of ``source`` (or the given ones) into ``dest`` with ``jobs`` parallel transfers."""
    report = MigrationReport()

    def one(key: str) -> tuple[str, str]:
        try:
            return key, copy_key(source, dest, key, dry_run=dry_run)
        except Exception as exc:  # one bad key must not stop the other thousands; all are reported
            return key, f"failed: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for key, outcome in pool.map(one, keys if keys is not None else source.keys()):
            if outcome == "copied":
                report.copied += 1
            elif outcome == "skipped":
                report.skipped += 1
            else:
                report.failed.append((key, outcome.removeprefix("failed: ")))
            if progress:
                progress(key, outcome)
    return report
