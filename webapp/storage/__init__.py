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
    if backend == "s3":
        return _s3_store(config)
    if backend != "local":
        raise ValueError(f"unknown PHOTO_STORE {backend!r}")
    root = str(config["UPLOAD_DIR"])
    cache_key = (backend, root)
    if cache_key not in _stores:
        _stores[cache_key] = LocalStore(root)
    return _stores[cache_key]


def _s3_store(config: Mapping) -> PhotoStore:
    from .s3 import S3Store  # boto3 is imported only where S3 is used

    cache_key = ("s3", config.get("S3_ENDPOINT_URL") or "", config.get("S3_BUCKET") or "",
                 config.get("S3_PREFIX") or "")
    if cache_key not in _stores:
        _stores[cache_key] = S3Store.from_config(config)
    return _stores[cache_key]


__all__ = ["InvalidKey", "LocalStore", "PhotoStore", "check_key", "get_storage", "key_for"]
