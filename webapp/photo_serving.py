"""Letting something other than the app send a photo's bytes, after the app's access check.

Two deployments want it: with S3 storage and PHOTO_SERVING=presigned, a short-lived link to the
bucket (a 302), so photo traffic never passes through the app servers; with local storage behind
nginx and PHOTO_X_ACCEL_PREFIX set, an ``X-Accel-Redirect`` so nginx sends the file with sendfile
while gunicorn's thread is free at once. Everything else streams through the app (the default).
Shared by the API's photo route and Open311's media links, which differ only in their access check.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, redirect

from .storage import LocalStore, get_storage, key_for


def offloaded(key: str, *, filename: str, cache_control: str) -> Response | None:
    """A response that hands the sending off, or None when the app should stream it itself."""
    config = current_app.config
    store = get_storage(current_app)
    if config.get("PHOTO_SERVING") == "presigned" and hasattr(store, "presigned_url"):
        ttl = int(config.get("PHOTO_URL_TTL") or 300)
        response = redirect(store.presigned_url(key, ttl, filename=filename), 302)
        # A cached redirect must not outlive its link: at most a fifth of the link's life.
        response.headers["Cache-Control"] = f"private, max-age={max(0, ttl // 5)}"
        return response
    prefix = config.get("PHOTO_X_ACCEL_PREFIX")
    if prefix and isinstance(store, LocalStore):
        response = Response(status=200, content_type="image/jpeg")
        response.headers["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + key
        response.headers["Cache-Control"] = cache_control
        response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
        return response
    return None


def presigned_origin(app: Flask) -> str | None:
    """Where presigned photo links point (scheme://host[:port]), for the Content-Security-Policy's
    img-src; None unless photos are served that way. Taken from a link the store actually makes
    (a local computation, no request), so path-style MinIO and virtual-host AWS/OSS are both right."""
    if app.config.get("PHOTO_SERVING") != "presigned":
        return None
    store = get_storage(app)
    if not hasattr(store, "presigned_url"):
        return None
    parts = urlsplit(store.presigned_url(key_for("0" * 64), 60))
    return f"{parts.scheme}://{parts.netloc}"
