from flask import render_template, url_for
from flask_babel import get_locale
from flask_login import current_user

from ..auth.decorators import role_required
from ..models import Role
from . import bp
from .strings import strings


@bp.route("/")
@role_required(Role.inspector)
def index():
    # The page is cached by the service worker and reused offline, so nothing in it may go stale in a
    # way that matters: the user, CSRF token and reference data come from the API and IndexedDB.
    config = {
        "api": "/api/v1",
        "loginUrl": url_for("auth.login", next=url_for("capture.index")),
        "locale": str(get_locale()),
        "user": {"id": current_user.id, "display_name": current_user.display_name},
    }
    return render_template("capture/index.html", i18n=strings(), app_config=config)
