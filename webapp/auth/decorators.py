"""Role checks for views. Scope (which rows) is webapp.scope's job; this only gates by role."""
from __future__ import annotations

from functools import wraps

from flask import abort, request
from flask_login import current_user, login_required

from ..models import Role


def role_required(*roles: Role | str):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"
