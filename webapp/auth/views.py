from __future__ import annotations

import secrets
from functools import cache
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db, login_manager
from ..models import Role, User
from . import bp
from .forms import LoginForm
from .throttling import begin_login, login_succeeded, refused

login_manager.login_view = "auth.login"
login_manager.login_message = None


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: an absolute or protocol-relative URL would make login an open redirect.

    Browsers treat a backslash like a slash and drop tabs and newlines inside URLs, so "/\\evil.com"
    and "/<TAB>/evil.com" would both leave the site; any of those characters disqualifies the target.
    """
    if not target:
        return None
    if "\\" in target or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


# Where each role's work list lives, most specific first for users holding several roles.
HOME_BY_ROLE = (
    (Role.inspector, "capture.index"),
    (Role.desk, "review.queue"),
    (Role.manager, "tasks.index"),
    (Role.community, "tasks.index"),
    (Role.leader, "reports.dashboard"),
    (Role.admin, "review.queue"),
)


def home_endpoint(user: User) -> str:
    for role, endpoint in HOME_BY_ROLE:
        if user.has_role(role):
            return endpoint
    return "auth.account"


@bp.route("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for(home_endpoint(current_user)))


@cache
def _dummy_hash() -> str:
    """A hash made as ``User.set_password`` makes them (same method, same cost) of a password nobody knows.

    Made once per process, on the first unknown username: that one request costs two hashes, which
    tells nothing about the name asked for."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None.

    The password is hashed whether or not the username exists (against a dummy hash of the same cost
    for an unknown one): skipping the work would let response times tell which usernames exist.
    """
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not matches or user.disabled:
        return None
    return user


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        gate = begin_login(form.username.data)
        if gate.blocked:
            return refused(gate, form)
        user = authenticate(form.username.data, form.password.data)
        if user is None:
            # One message for every failure, so the form does not tell which usernames exist.
            flash(_("用户名或密码不正确,或账号已停用。"), "error")
            return render_template("auth/login.html", form=form), 401
        login_succeeded(gate)
        login_user(user, remember=form.remember.data)
        return redirect(safe_next(form.next.data) or url_for(home_endpoint(user)))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("已退出登录。"), "info")
    return redirect(url_for("auth.login"))
