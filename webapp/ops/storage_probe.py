"""Can this server store a photo right now? The probe writes and removes a small file where photos go."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import current_app


def storage_ready() -> None:
    """Raise when the upload directory is missing or not writable (a full disk, a read-only remount)."""
    upload_dir = Path(current_app.config["UPLOAD_DIR"])
    # Dot-prefixed so a directory walk over the content-addressed store never mistakes it for a photo.
    fd, name = tempfile.mkstemp(prefix=".readyz-", dir=upload_dir)
    try:
        os.write(fd, b"ok")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(name)
