from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")

from . import common, daily, export_views, views  # noqa: E402,F401
