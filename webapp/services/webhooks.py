"""Chat-group robot webhooks of streets, communities and market sites, stored as secrets.

A robot's URL is its credential (anyone holding it can post to the group), and DingTalk's signing
secret likewise, so both are encrypted at rest with a key derived from SECRET_KEY and only a masked
hint is shown after saving. They are never logged and never enter an audit snapshot.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Community, Site, Street, User, Webhook, WebhookKind
from . import audit
from .errors import Invalid

# The platforms' robot hosts; NOTICE_ALLOWED_HOSTS replaces them for a private deployment.
DEFAULT_HOSTS = ("qyapi.weixin.qq.com", "oapi.dingtalk.com")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
AUDIT_FIELDS = ("kind", "url_hint", "enabled", "notify_dispatch", "overdue_times", "report_time")


class SecretUnreadable(Exception):
    """The stored ciphertext does not open with this SECRET_KEY (it was changed): re-enter the URL."""


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"xuncha-webhooks",
               info=b"webhook url and signing secret, v1").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str) -> str:
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(current_app.config["SECRET_KEY"]).decrypt(token.encode()).decode()
    except InvalidToken as err:
        raise SecretUnreadable("stored webhook secret cannot be decrypted with the current SECRET_KEY") from err


def mask_url(url: str) -> str:
    """``https://qyapi.weixin.qq.com/…key=****abcd``: enough to recognise a robot, not to use it."""
    parts = urlsplit(url)
    if parts.query:
        name, _sep, value = parts.query.split("&")[-1].partition("=")
        return f"{parts.scheme}://{parts.netloc}/…{name}=****{value[-4:]}"
    return f"{parts.scheme}://{parts.netloc}/…****{parts.path[-4:]}"


def check_url(url: str) -> None:
    """Only the platforms' hosts (configurable for private deployments): the worker posts wherever a
    saved URL points, so an open URL would let the console probe the office's internal network."""
    parts = urlsplit(url)
    configured = current_app.config.get("NOTICE_ALLOWED_HOSTS") or DEFAULT_HOSTS
    allowed = {h.strip().lower() for h in configured if h.strip()}
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise Invalid(_("请粘贴完整的机器人地址(https://…)。"), fields={"url": [_("请粘贴完整的机器人地址(https://…)。")]})
    if host not in allowed:
        message = _("只允许这些平台的地址:%(hosts)s", hosts=", ".join(sorted(allowed)))
        raise Invalid(message, fields={"url": [message]})
    if parts.scheme != "https" and host not in ("127.0.0.1", "localhost"):
        raise Invalid(_("机器人地址必须是 https。"), fields={"url": [_("机器人地址必须是 https。")]})


def parse_times(text: str, many: bool) -> str:
    """Normalise "9:00, 15:30" to "09:00,15:30"; raises Invalid on anything else."""
    items = [t.strip() for t in re.split(r"[,,\s]+", text or "") if t.strip()]
    items = [f"0{t}" if re.match(r"^\d:\d\d$", t) else t for t in items]
    if any(not TIME_RE.match(t) for t in items) or (not many and len(items) > 1):
        field = "overdue_times" if many else "report_time"
        raise Invalid(_("时间格式为 HH:MM,例如 09:00。"), fields={field: [_("时间格式为 HH:MM,例如 09:00。")]})
    return ",".join(sorted(set(items)))


def webhook_for(owner: Street | Community | Site) -> Webhook | None:
    column = {Street: Webhook.street_id, Community: Webhook.community_id, Site: Webhook.site_id}[type(owner)]
    return db.session.scalar(select(Webhook).where(column == owner.id))


@dataclass
class WebhookData:
    kind: str
    url: str = ""  # empty on edit keeps the stored URL
    secret: str = ""  # empty keeps the stored secret; see clear_secret
    clear_secret: bool = False
    enabled: bool = True
    notify_dispatch: bool = True
    overdue_times: str = ""
    report_time: str = ""


def save_webhook(actor: User, owner: Street | Community | Site, data: WebhookData) -> Webhook:
    """Create or update the owner's robot. Blank URL/secret fields keep what is stored, so an admin
    can change the schedule without pasting the credential again."""
    errors: dict[str, list[str]] = {}
    if data.kind not in {k.value for k in WebhookKind}:
        errors["kind"] = [_("请选择平台。")]
    webhook = webhook_for(owner)
    url = (data.url or "").strip()
    if not url and (webhook is None or not webhook.url_hint):
        errors["url"] = [_("请粘贴机器人地址。")]
    for check in (lambda: url and check_url(url),
                  lambda: setattr(data, "overdue_times", parse_times(data.overdue_times, many=True)),
                  lambda: setattr(data, "report_time", parse_times(data.report_time, many=False))):
        try:
            check()
        except Invalid as err:
            errors.update(err.fields)
    secret = (data.secret or "").strip()
    if data.kind == WebhookKind.wecom.value and secret:
        errors["secret"] = [_("企业微信机器人不需要加签密钥。")]
    if errors:
        raise Invalid(_("请检查标出的项目。"), fields=errors)

    before = audit.snapshot(webhook, AUDIT_FIELDS) | {"secret": bool(webhook.secret_encrypted)} if webhook else None
    if webhook is None:
        webhook = Webhook(**{f"{_owner_kind(owner)}_id": owner.id})
        db.session.add(webhook)
    webhook.kind = data.kind
    if url:
        webhook.url_encrypted = encrypt(url)
        webhook.url_hint = mask_url(url)
    if secret:
        webhook.secret_encrypted = encrypt(secret)
    elif data.clear_secret or data.kind == WebhookKind.wecom.value:
        webhook.secret_encrypted = None
    webhook.enabled = data.enabled
    webhook.notify_dispatch = data.notify_dispatch
    webhook.overdue_times = data.overdue_times
    webhook.report_time = data.report_time
    db.session.flush()
    after = audit.snapshot(webhook, AUDIT_FIELDS) | {"secret": bool(webhook.secret_encrypted)}
    # A changed URL with the same last four characters would otherwise look like no change at all.
    note = _("已更换机器人地址") if url and before is not None else ""
    audit.record(actor, "webhook.create" if before is None else "webhook.update", "webhook", webhook,
                 before=before, after=after, label=_owner_label(owner), note=note)
    db.session.commit()
    return webhook


def delete_webhook(actor: User, owner: Street | Community | Site) -> None:
    """Turning a group off keeps the row (its notices and attempts point at it) but forgets the secret."""
    webhook = webhook_for(owner)
    if webhook is None:
        return
    before = audit.snapshot(webhook, AUDIT_FIELDS) | {"secret": bool(webhook.secret_encrypted)}
    webhook.enabled = False
    webhook.url_encrypted = encrypt("")
    webhook.secret_encrypted = None
    webhook.url_hint = ""
    audit.record(actor, "webhook.delete", "webhook", webhook, before=before,
                 after=audit.snapshot(webhook, AUDIT_FIELDS) | {"secret": False}, label=_owner_label(owner))
    db.session.commit()


def _owner_kind(owner) -> str:
    return {Street: "street", Community: "community", Site: "site"}[type(owner)]


def _owner_label(owner) -> str:
    if isinstance(owner, Community):
        return f"{owner.street.name} · {owner.name}"
    if isinstance(owner, Site):
        return f"{owner.community.name} · {owner.name}"
    return owner.name
