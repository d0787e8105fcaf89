"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) for city platforms.

Read-only for anyone (discovery, services, accepted requests with signed photo links) and a
``POST requests`` for partner systems that hold an API key. Views here; formats.py renders JSON/XML
and the spec's error list; serialize.py maps our models onto the spec's fields; media.py signs and
serves the photo links.
"""
from flask import Blueprint

from ..auth.tokens import CSRF_EXEMPT_BLUEPRINTS

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
# POST requests authenticates by the api_key in the request, never by the session cookie.
CSRF_EXEMPT_BLUEPRINTS.add(bp.name)

from . import media, views  # noqa: E402,F401  (routes register on import)
