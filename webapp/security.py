"""Security headers on every response.

Inspectors' photos show doorsteps and shopfronts, and the pages that show them run with a logged-in
session, so a single injected script would be a data leak. The Content-Security-Policy therefore
allows scripts only from our own origin (no 'unsafe-inline', no eval): templates carry no inline
code, no on* handlers and no style attributes (tests/test_security_headers.py scans them).

What the PWA still needs, and why each source is allowed:
- ``worker-src 'self'``: the service worker at /sw.js.
- ``img-src blob: data:``: previews of a just-taken photo are ``URL.createObjectURL(file)``
  before it is uploaded; small icons may be data: URLs.
- ``connect-src 'self'``: the outbox posts to /api/v1 only.
- ``manifest-src 'self'``: /manifest.webmanifest.
The camera file input (``<input type=file accept=image/* capture>``) needs no CSP source at all; the
Permissions-Policy keeps camera and geolocation to our own origin and turns off what we never use.

A view may set its own header (e.g. a stricter policy on a served photo); ``setdefault`` keeps it.
"""
from __future__ import annotations

import math

from flask import Flask, Request, Response, abort, current_app, json, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .photo_serving import presigned_origin

CSP_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' blob: data:"),
    ("connect-src", "'self'"),
    ("worker-src", "'self'"),
    ("manifest-src", "'self'"),
    ("font-src", "'self'"),
    ("media-src", "'self' blob:"),
    ("object-src", "'none'"),
    ("base-uri", "'self'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)

CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in CSP_DIRECTIVES)

PERMISSIONS_POLICY = ", ".join((
    "camera=(self)",
    "geolocation=(self)",
    "microphone=()",
    "payment=()",
    "usb=()",
    "serial=()",
    "bluetooth=()",
    "midi=()",
    "magnetometer=()",
    "gyroscope=()",
    "accelerometer=()",
    "display-capture=()",
    "browsing-topics=()",
))

HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Finding URLs carry ids; other sites we link to need not learn them.
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    # For browsers older than frame-ancestors.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Photos and exports are for our own pages only; no other origin may embed them.
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Sent only over HTTPS (a browser ignores it on plain HTTP, and pinning a dev box to HTTPS would hurt).
HSTS = "max-age=31536000"


# --- input no database can hold -------------------------------------------------------------------

def storable(value) -> bool:
    """False for text PostgreSQL cannot store (NUL, or a lone UTF-16 surrogate that UTF-8 cannot encode)
    and for non-finite numbers (JSON has none; a PostgreSQL JSON column refuses them)."""
    stack = [value]
    while stack:  # a loop, not recursion: the document may be nested nearly to the parser's limit
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class _StrictJSON:
    """The app's JSON provider for request bodies, with every way a body can be unusable made a ValueError.

    Werkzeug's ``get_json`` answers a ValueError as bad input (400, or None when ``silent``); Python's
    parser raises RecursionError for deep nesting, which would otherwise surface as a 500, and accepts
    NaN, Infinity and escaped NUL or lone surrogates that only fail later, in the database.
    """

    def __init__(self, provider) -> None:
        self.provider = provider

    def loads(self, data, **kwargs):
        try:
            value = self.provider.loads(data, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        if not storable(value):
            raise ValueError("JSON holds NUL, a lone surrogate or a non-finite number")
        return value

    def dumps(self, obj, **kwargs):
        return self.provider.dumps(obj, **kwargs)


class HardenedRequest(Request):
    """Flask sets ``json_module`` to the app's provider on each request; we wrap whatever it sets."""

    @property
    def json_module(self):
        return self.__dict__.get("_strict_json") or _StrictJSON(json)

    @json_module.setter
    def json_module(self, provider) -> None:
        self.__dict__["_strict_json"] = _StrictJSON(provider)


def refuse_nul_in_fields() -> None:
    """A NUL in the path, a query or a form field cannot be stored or even compared in PostgreSQL
    (a 500 there), whichever view it reaches."""
    if "\x00" in request.path:
        abort(400, description="NUL character in the path")
    for values in (request.args, request.form if request.mimetype in FORM_TYPES else {}):
        for key, value in values.items(multi=True) if values else ():
            if "\x00" in key or "\x00" in value:
                abort(400, description="NUL character in a request field")


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def headers_for(app: Flask) -> dict[str, str]:
    """HEADERS, plus the photo bucket's origin in img-src when photos are served by presigned links
    (PHOTO_SERVING=presigned): the browser then loads them from the bucket, not from us."""
    origin = presigned_origin(app)
    if not origin:
        return HEADERS
    csp = "; ".join(f"{name} {value} {origin}" if name == "img-src" else f"{name} {value}"
                    for name, value in CSP_DIRECTIVES)
    return {**HEADERS, "Content-Security-Policy": csp}


def set_security_headers(response: Response) -> Response:
    for name, value in current_app.extensions.get("xc_security_headers", HEADERS).items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if proxies > 0:
        # Only then are X-Forwarded-For/-Proto/-Host believed: remote_addr feeds login throttling,
        # the scheme decides HSTS and Secure cookies. Without a proxy anyone could forge them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.request_class = HardenedRequest
    app.before_request(refuse_nul_in_fields)
    app.extensions["xc_security_headers"] = headers_for(app)
    app.after_request(set_security_headers)
