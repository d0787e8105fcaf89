"""The capture app's user-facing strings, rendered into the page as JSON (the JS holds no text).

``{n}``-style placeholders are filled in by static/pwa/js/i18n.js.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

STRINGS = {
    "saved": _l("已保存,待发送 {n} 条"),
    "saving": _l("正在保存…"),
    "save_failed": _l("保存失败,请重试:{reason}"),
    "processing": _l("处理中"),
    "photo_original": _l("原图"),
    "remove_photo": _l("删除这张照片"),
    "need_photo": _l("请先拍照"),
    "need_community": _l("请选择社区"),
    "need_category": _l("请选择问题类别"),
    "need_site_for_ok": _l("记录“卫生尚可”需要选择点位"),
    "wait_photos": _l("照片还在处理,请稍候"),
    "no_reference": _l("还没有下载社区和点位数据。请联网打开一次本页面。"),
    "choose_community": _l("选择社区"),
    "place_none": _l("还没选社区,点此选择"),
    "place_summary": _l("地点:{place}"),
    "nearby": _l("附近:{name}({distance})"),
    "metres": _l("{n}米"),
    "kilometres": _l("{n}公里"),
    "no_site": _l("不选点位"),
    "no_sites_found": _l("没有找到点位"),
    "site_other_community": _l("{site} · {community}"),
    "more_categories": _l("更多类别({n})"),
    "fewer_categories": _l("收起"),
    "geo_waiting": _l("正在定位…(不影响保存)"),
    "geo_ok": _l("已定位,精度约 {n} 米"),
    "geo_denied": _l("未允许定位:记录将不带位置"),
    "geo_unavailable": _l("暂时无法定位:记录将不带位置"),
    "draft_restored": _l("已恢复上次未保存的记录"),
    "state_pending": _l("等待发送"),
    "state_sending": _l("发送中"),
    "state_failed": _l("发送失败"),
    "state_attention": _l("需要处理"),
    "state_sent": _l("已发送"),
    "photos_progress": _l("照片 {done}/{total}"),
    "kind_ok": _l("卫生尚可"),
    "confirm_delete": _l("删除这条还没发送的记录?删除后无法恢复。"),
    "confirm_delete_attention": _l("删除这条服务器拒收的记录?删除后无法恢复。"),
    "delete": _l("删除"),
    "retry": _l("重新发送"),
    "server_status": _l("服务器状态:{status}"),
    "sync_running": _l("正在发送 {done}/{total}…"),
    "sync_done": _l("已全部发送"),
    "sync_idle": _l("上次同步:{time}"),
    "sync_offline": _l("离线:记录保存在手机上,有网后自动发送"),
    "sync_error": _l("发送出错,稍后自动重试:{reason}"),
    "sync_retry_at": _l("{time} 自动重试"),
    "sync_auth": _l("登录已过期。记录都保存在手机上,重新登录后继续发送。"),
    "sync_other_tab": _l("另一个窗口正在发送"),
    "never": _l("从未"),
    "storage_persisted": _l("存储:已设为持久保存,浏览器不会自动清理"),
    "storage_not_persisted": _l("存储:未设为持久保存"),
    "storage_not_persisted_warn": _l("存储:未设为持久保存,手机空间紧张时浏览器可能清理未发送的记录。请尽快联网发送。"),
    "storage_usage": _l("已用 {used},可用约 {free}"),
    "storage_low": _l("手机存储空间不足!请尽快联网发送,或删除不需要的照片。"),
    "storage_unknown": _l("无法读取存储空间"),
    "empty_outbox": _l("没有待发送的记录。"),
    "empty_sent": _l("没有已发送的记录。"),
    "empty_attention": _l("没有需要处理的记录。"),
    "empty_mine": _l("还没有记录。联网同步后显示最近的记录。"),
    "mine_synced": _l("更新于 {time}"),
    "mine_offline": _l("离线:显示的是 {time} 同步的内容"),
    "other_user": _l("这条记录属于其他账号,登录该账号后发送"),
    "error_network": _l("网络中断,稍后自动重试"),
    "error_timeout": _l("网络太慢,超时,稍后自动重试"),
    "error_server": _l("服务器暂时出错({detail}),稍后自动重试"),
    "error_client": _l("发送出错({detail}),稍后自动重试"),
    "error_hash_mismatch": _l("服务器收到的照片与手机上的不一致,请联系管理员"),
    "error_photo_lost": _l("这条记录的照片在手机上丢失了,无法发送"),
    "update_available": _l("有新版本 — 点击刷新"),
    "mb": _l("{n} MB"),
    "gb": _l("{n} GB"),
}

# Server workflow states as the inspector reads them.
STATUS_LABELS = {
    "submitted": _l("已提交"),
    "accepted": _l("已立案"),
    "rejected": _l("未采纳"),
    "duplicate": _l("重复问题"),
    "dispatched": _l("已派遣"),
    "acknowledged": _l("已签收"),
    "disputed": _l("有异议"),
    "rectified": _l("已整改"),
    "verified": _l("已核查结案"),
    "ok": _l("卫生尚可"),
}


def strings() -> dict[str, str]:
    data = {key: str(value) for key, value in STRINGS.items()}
    data.update({f"status_{key}": str(value) for key, value in STATUS_LABELS.items()})
    return data
