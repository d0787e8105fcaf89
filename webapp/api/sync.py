"""The sync endpoints a phone's outbox talks to: who am I, create a finding, check findings' status."""
from __future__ import annotations

from flask import jsonify
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from . import bp
from .schemas import user_json


@bp.get("/session")
@login_required
def session_info():
    response = jsonify({"user": user_json(current_user), "csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response
