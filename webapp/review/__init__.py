from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")

from . import views  # noqa: E402,F401


@bp.context_processor
def _helpers():
    from ..services.photos import photo_urls

    from flask_babel import gettext as _
    from flask_babel import pgettext

    return {"photo_urls": photo_urls,
            "countdown_words": {"left": _("还剩 "), "overdue": _("已超期 "),
                                "hours": pgettext("countdown", "小时"), "minutes": _("分")}}


def _register_badge() -> None:
    from ..services.worklists import desk_badge
    from ..template_helpers import BADGE_COUNTERS

    BADGE_COUNTERS["review.queue"] = desk_badge


_register_badge()
