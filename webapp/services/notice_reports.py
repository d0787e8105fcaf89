"""The daily supervision report for one chat group, in parts that fit that group's robot.

The report itself (what it says, how it splits at line boundaries with "（i/n）" numbering) is the
reports module's; this adapter only decides whose report a group gets and how long a part may be.

Whose report: the report is scoped like a user's view, so the group reads it "as" a reader limited
to the group's owner — a street's group sees the whole street, a community's group its community,
a market's group its market. The reader is an unsaved User that exists only for this call.
"""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import force_locale

from ..models import Role, User, UserRole, Webhook
from . import notice_delivery
from .daily_report import build_daily_report
from .daily_report_text import chat_parts

# chat_parts counts characters; robots count UTF-8 bytes. A CJK character is three bytes, so a
# character budget of a third of the byte limit can never overflow.
BYTES_PER_CHAR = 3


def _reader(hook: Webhook) -> tuple[User, int | None]:
    reader = User(username="notice-reader", display_name="notice-reader", disabled=False)
    if hook.site is not None:
        reader.role_rows = [UserRole(role=Role.manager.value)]
        reader.sites = [hook.site]
        return reader, hook.site.community.street_id
    if hook.community is not None:
        reader.role_rows = [UserRole(role=Role.community.value)]
        reader.communities = [hook.community]
        return reader, hook.community.street_id
    reader.role_rows = [UserRole(role=Role.leader.value)]
    reader.streets = [hook.street]
    return reader, hook.street_id


def report_parts(hook: Webhook, day: date, now: datetime) -> list[str]:
    """The report of ``day`` as the group's messages, each within the robot's byte limit."""
    reader, street_id = _reader(hook)
    limit = notice_delivery.BYTE_LIMITS[hook.kind]
    with force_locale("zh_CN"):
        report = build_daily_report(reader, day, street_id=street_id, now=now)
        parts = chat_parts(report, limit // BYTES_PER_CHAR)
    out: list[str] = []
    for part in parts:
        # chat_parts gives a single over-long line a message of its own; only then cut it by bytes.
        out.extend([part] if notice_delivery.fits(hook.kind, part) else notice_delivery.cut_to_bytes(part, limit))
    return out
