from flask import render_template

from ..auth.decorators import role_required
from ..models import Role
from . import bp


@bp.route("/")
@role_required(Role.leader, Role.desk, Role.admin)
def dashboard():
    return render_template("reports/dashboard.html")
