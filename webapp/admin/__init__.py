"""The browser admin console (/admin): people, places, categories, chat-group notices, audit trail.

Every page is for the admin role only; the gate is one ``before_request`` rather than a decorator on
each view, so a new page cannot forget it.
"""
from flask import Blueprint, abort
from flask_login import current_user

from ..extensions import login_manager
from ..models import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.has_role(Role.admin):
        abort(403)
    return None


@bp.after_request
def _no_store(response):
    # Pages here show temporary passwords, tokens and masked webhooks: keep them out of caches.
    response.headers["Cache-Control"] = "no-store"
    return response


from . import audit, categories, home, notices, places, users  # noqa: E402,F401  (routes register on import)
