"""Where photo bytes live. ``get_storage`` picks the backend from the configuration.

Only the local backend exists today; an S3 backend implements ``PhotoStore`` (five verbs) and is
selected here by a ``PHOTO_STORE`` setting.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import InvalidKey, PhotoStore, check_key, key_for
from .local import LocalStore

_stores: dict[tuple[str, str], PhotoStore] = {}


def get_storage(app_or_config: Any) -> PhotoStore:
    """The store for an app (or its config mapping); one instance per backend and location."""
    config: Mapping = getattr(app_or_config, "config", app_or_config)
    backend = config.get("PHOTO_STORE", "local")
    if backend != "local":
        raise ValueError(f"unknown PHOTO_STORE {backend!r}")
    root = str(config["UPLOAD_DIR"])
    cache_key = (backend, root)
    if cache_key not in _stores:
        _stores[cache_key] = LocalStore(root)
    return _stores[cache_key]


__all__ = ["InvalidKey", "LocalStore", "PhotoStore", "check_key", "get_storage", "key_for"]
