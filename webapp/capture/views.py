from flask import render_template

from ..auth.decorators import role_required
from ..models import Role
from . import bp


@bp.route("/")
@role_required(Role.inspector)
def index():
    return render_template("capture/index.html")
