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

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

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


def set_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
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
    app.after_request(set_security_headers)
