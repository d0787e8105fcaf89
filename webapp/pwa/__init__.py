"""The installable shell: /sw.js at root scope, the web app manifest and an offline fallback page."""
from flask import Blueprint

bp = Blueprint("pwa", __name__)

from . import views  # noqa: E402,F401
