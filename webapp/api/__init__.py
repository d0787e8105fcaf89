from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import errors  # noqa: E402,F401
from . import openapi, photos, reference, sync  # noqa: E402,F401
from . import actions  # noqa: E402,F401  (after openapi: it documents itself there)
