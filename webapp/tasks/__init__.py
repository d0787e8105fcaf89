from flask import Blueprint

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

from . import views  # noqa: E402,F401


@bp.context_processor
def _helpers():
    from flask_babel import gettext as _
    from flask_babel import pgettext

    from ..services.photos import photo_urls

    return {"photo_urls": photo_urls, "page_strings": {
        "left": _("还剩 "), "overdue": _("已超期 "), "hours": pgettext("countdown", "小时"), "minutes": _("分"),
        "queued": _("已保存在手机上,有网络时自动发送"),
        "sending": _("正在发送…"),
        "sent": _("已发送"),
        "offline": _("没有网络:操作已保存,恢复网络后自动发送"),
        "auth": _("登录已过期,请重新登录后继续发送"),
        "failed": _("发送失败,稍后重试"),
        "attention": _("未能提交"),
        "pending_n": _("{n} 条操作待发送"),
        "acknowledge": _("已签收"),
        "rectify": _("已提交整改"),
        "dispute": _("已提出异议"),
        "verify": _("已核查通过"),
        "reopen": _("已退回重改"),
        "need_photo": _("请先拍整改后照片"),
        "remove": _("删除"),
        "confirm_remove": _("删除这条未能提交的操作?"),
        "metres": _("约 {m} 米"),
        "kilometres": _("约 {km} 公里"),
    }}


def _register_badges() -> None:
    from ..services.worklists import party_badge
    from ..template_helpers import BADGE_COUNTERS

    BADGE_COUNTERS["tasks.index"] = party_badge
    BADGE_COUNTERS["tasks.verify"] = views.inspector_badge


_register_badges()
