"""User administration verbs: accounts, roles, scope, passwords and API tokens, each one audited.

A street office runs this product without a programmer, so everything an administrator needs to do
to a person's account is a verb here, called from the browser console. Every verb takes the acting
user, validates, writes the change and its audit row in one transaction, and commits.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..extensions import db
from ..models import ApiToken, Community, Role, Site, SiteKind, Street, User, UserRole
from ..models.mixins import utcnow
from . import audit
from .errors import Invalid, NotFound

ROLE_LABELS = {
    Role.inspector.value: _l("督导员"),
    Role.desk.value: _l("内勤审核"),
    Role.manager.value: _l("市场管理员"),
    Role.community.value: _l("社区人员"),
    Role.leader.value: _l("领导"),
    Role.admin.value: _l("管理员"),
}
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
LOCALES = ("zh_CN", "en")
# No 0/O, 1/l/I: a temporary password is read off a screen and typed on a phone.
_TEMP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def password_problems(password: str, username: str) -> list[str]:
    """The password rules, in one place for the admin console, the profile page and the CLI."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(_("密码至少 %(n)d 位。", n=MIN_PASSWORD_LENGTH))
    if password.isdigit():
        problems.append(_("密码不能全是数字。"))
    if username and password.strip().lower() == username.strip().lower():
        problems.append(_("密码不能与用户名相同。"))
    return problems


def check_password_rules(password: str, username: str, field_name: str = "password") -> None:
    problems = password_problems(password, username)
    if problems:
        raise Invalid(" ".join(problems), fields={field_name: problems})


def temporary_password() -> str:
    """Ten characters from an unambiguous alphabet, always mixing letters and digits."""
    while True:
        raw = "".join(secrets.choice(_TEMP_ALPHABET) for _ in range(10))
        if any(c.isdigit() for c in raw) and any(c.isalpha() for c in raw):
            return raw


def _user_snapshot(user: User) -> dict:
    return {
        "username": user.username, "display_name": user.display_name, "locale": user.locale,
        "disabled": bool(user.disabled), "must_change_password": bool(user.must_change_password),
        "roles": sorted(user.roles),
        "streets": sorted(s.name for s in user.streets),
        "communities": sorted(c.name for c in user.communities),
        "sites": sorted(s.name for s in user.sites),
    }


@dataclass
class UserData:
    """What the console's user form submits; ids come from pickers, never typed by the admin."""

    display_name: str
    roles: list[str]
    street_ids: list[int] = field(default_factory=list)
    community_ids: list[int] = field(default_factory=list)
    site_ids: list[int] = field(default_factory=list)
    locale: str = "zh_CN"


def _load(model, ids: list[int], current: list, errors: dict, key: str, label: str) -> list:
    """Rows for ``ids``; a retired place may stay in a scope it already had but is not newly added."""
    ids = sorted(set(ids))
    rows = list(db.session.scalars(select(model).where(model.id.in_(ids)))) if ids else []
    kept = {row.id for row in current}
    missing = set(ids) - {row.id for row in rows}
    retired = [row.name for row in rows if row.retired_at is not None and row.id not in kept]
    if missing:
        errors[key] = [_("%(what)s不存在:%(ids)s", what=label, ids=", ".join(map(str, sorted(missing))))]
    elif retired:
        errors[key] = [_("%(what)s已停用:%(names)s", what=label, names="、".join(retired))]
    return rows


def _apply(user: User, data: UserData, actor: User) -> None:
    errors: dict[str, list[str]] = {}
    display_name = (data.display_name or "").strip()
    if not display_name or len(display_name) > 100:
        errors["display_name"] = [_("请填写姓名(最多 100 字)。")]
    try:
        roles = {Role(r).value for r in data.roles}
    except ValueError:
        roles = set()
        errors["roles"] = [_("未知的角色。")]
    if not roles and "roles" not in errors:
        errors["roles"] = [_("至少选择一个角色。")]
    if user.id is not None and user.id == actor.id and Role.admin.value in user.roles and Role.admin.value not in roles:
        errors["roles"] = [_("不能移除自己的管理员角色。")]
    if data.locale not in LOCALES:
        errors["locale"] = [_("未知的语言。")]
    streets = _load(Street, data.street_ids, user.streets, errors, "street_ids", _("街道"))
    communities = _load(Community, data.community_ids, user.communities, errors, "community_ids", _("社区"))
    sites = _load(Site, data.site_ids, user.sites, errors, "site_ids", _("市场"))
    if any(s.kind != SiteKind.market.value for s in sites):
        errors["site_ids"] = [_("只能选择市场类点位。")]
    # A scoped role with no scope sees nothing at all: refuse it rather than create a blank account.
    if Role.manager.value in roles and not sites:
        errors.setdefault("site_ids", [_("市场管理员至少要负责一个市场。")])
    if Role.community.value in roles and not communities:
        errors.setdefault("community_ids", [_("社区人员至少要属于一个社区。")])
    if Role.leader.value in roles and not streets:
        errors.setdefault("street_ids", [_("领导至少要选择一个街道。")])
    if errors:
        raise Invalid(_("请检查标出的项目。"), fields=errors)
    user.display_name = display_name
    user.set_roles(roles)
    user.locale = data.locale
    user.streets = streets
    user.communities = communities
    user.sites = sites


def create_user(actor: User, username: str, data: UserData) -> tuple[User, str]:
    """Create an account with a temporary password, shown once, that must be changed at first login."""
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise Invalid(_("用户名为 2–64 位字母、数字或 _ . @ -。"),
                      fields={"username": [_("用户名为 2–64 位字母、数字或 _ . @ -。")]})
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise Invalid(_("用户名已存在。"), fields={"username": [_("用户名已存在。")]})
    user = User(username=username, display_name="", locale="zh_CN", disabled=False, must_change_password=True)
    password = temporary_password()
    user.set_password(password)
    try:
        _apply(user, data, actor)
        db.session.add(user)
        db.session.flush()
        audit.record(actor, "user.create", "user", user, after=_user_snapshot(user), label=user.username)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return user, password


def update_user(actor: User, user: User, data: UserData) -> User:
    before = _user_snapshot(user)
    try:
        _apply(user, data, actor)
        audit.record(actor, "user.update", "user", user, before=before, after=_user_snapshot(user),
                     label=user.username)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return user


def set_disabled(actor: User, user: User, disabled: bool) -> User:
    """Disabling keeps the account and its history; the login and every token stop working at once."""
    if user.id == actor.id and disabled:
        raise Invalid(_("不能停用自己的账号。"), fields={"disabled": [_("不能停用自己的账号。")]})
    before = _user_snapshot(user)
    user.disabled = disabled
    audit.record(actor, "user.disable" if disabled else "user.enable", "user", user, before=before,
                 after=_user_snapshot(user), label=user.username)
    db.session.commit()
    return user


def reset_password(actor: User, user: User) -> str:
    """A new temporary password; the old one stops working and the user must choose their own at login."""
    password = temporary_password()
    user.set_password(password)
    user.must_change_password = True
    audit.record(actor, "user.reset_password", "user", user, before={"password": "•"},
                 after={"password": "•", "must_change_password": True}, label=user.username,
                 note=_("已生成临时密码"))
    db.session.commit()
    return password


def revoke_token(actor: User, user: User, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_("没有这个令牌。"))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(actor, "token.revoke", "api_token", token, before={"revoked": False},
                     after={"revoked": True}, label=f"{user.username} · {token.name or token.id}")
        db.session.commit()
    return token


def change_own_password(user: User, current: str, new: str) -> None:
    """The profile page's verb: the user proves the current password, the new one obeys the rules."""
    errors: dict[str, list[str]] = {}
    if not user.check_password(current or ""):
        errors["current"] = [_("当前密码不正确。")]
    problems = password_problems(new or "", user.username)
    if not problems and new == current:
        problems.append(_("新密码不能与当前密码相同。"))
    if problems:
        errors["new"] = problems
    if errors:
        raise Invalid(_("密码未修改。"), fields=errors)
    user.set_password(new)
    user.must_change_password = False
    audit.record(user, "user.change_password", "user", user, before={"password": "•"},
                 after={"password": "••"}, label=user.username)
    db.session.commit()


def set_own_locale(user: User, locale: str) -> None:
    if locale not in LOCALES:
        raise Invalid(_("未知的语言。"), fields={"locale": [_("未知的语言。")]})
    before = {"locale": user.locale}
    user.locale = locale
    audit.record(user, "user.set_locale", "user", user, before=before, after={"locale": locale},
                 label=user.username)
    db.session.commit()


@dataclass
class UserQuery:
    q: str = ""
    role: str = ""
    state: str = ""  # "", "active", "disabled", "must_change"


def user_select(query: UserQuery):
    stmt = select(User).order_by(User.disabled, User.username)
    if query.q:
        like = f"%{query.q.strip()}%"
        stmt = stmt.where((User.username.ilike(like)) | (User.display_name.ilike(like)))
    if query.role in {r.value for r in Role}:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == query.role)))
    if query.state == "active":
        stmt = stmt.where(User.disabled.is_(False))
    elif query.state == "disabled":
        stmt = stmt.where(User.disabled.is_(True))
    elif query.state == "must_change":
        stmt = stmt.where(User.must_change_password.is_(True))
    return stmt
