from flask import Blueprint

bp = Blueprint("capture", __name__, url_prefix="/capture")

from . import views  # noqa: E402,F401
