from flask import render_template

from ..auth.decorators import role_required
from ..models import Role
from . import bp


@bp.route("/")
@role_required(Role.manager, Role.community)
def index():
    return render_template("tasks/index.html")
