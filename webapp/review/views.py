from flask import render_template

from ..auth.decorators import role_required
from ..models import Role
from . import bp


@bp.route("/")
@role_required(Role.desk, Role.admin)
def queue():
    return render_template("review/queue.html")
