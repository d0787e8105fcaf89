"""Can this server store a photo right now? Asked of whichever backend is configured."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import current_app

from ..storage import LocalStore, get_storage


def storage_ready() -> None:
    """Raise when photos cannot be stored: a missing, full or read-only upload directory, or a
    bucket that does not answer or refuses these credentials."""
    store = get_storage(current_app)
    if isinstance(store, LocalStore):
        _local_write(store.root)
    else:
        store.check()


def _local_write(root: Path) -> None:
    # Dot-prefixed so a walk over the content-addressed store never mistakes it for a photo.
    fd, name = tempfile.mkstemp(prefix=".readyz-", dir=root)
    try:
        os.write(fd, b"ok")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(name)
