"""The profile page (/account): a user changes their own password and language.

A temporary password (from the admin console's create or reset) is known to the admin who read it
out, so until the user has chosen their own, every page sends them here and the API refuses with
``password_change_required``. Bearer-token requests are not affected: tokens are issued separately
and revoked separately.
"""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField
from wtforms.validators import DataRequired, EqualTo, Length

from ..services import admin as admin_service
from ..services.errors import Forbidden, Invalid
from . import bp
from .views import home_endpoint

# Pages a user with a temporary password may still reach.
OPEN_ENDPOINTS = {"auth.account", "auth.change_password", "auth.logout", "auth.login", "static"}
OPEN_PREFIXES = ("pwa.", "ops.")


class PasswordForm(FlaskForm):
    current = PasswordField(_l("当前密码"), validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("新密码"), validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("再输一次新密码"),
                            validators=[DataRequired(), EqualTo("new", message=_l("两次输入的新密码不一致。"))])


class LanguageForm(FlaskForm):
    locale = SelectField(_l("界面语言"), choices=[SelectChoice("zh_CN", "中文"), SelectChoice("en", "English")])


@bp.before_app_request
def force_password_change():
    # The open endpoints first: asking current_user loads the session, which makes Flask add
    # ``Vary: Cookie`` to the shell's immutable files and costs a user query per file.
    endpoint = request.endpoint or ""
    if endpoint in OPEN_ENDPOINTS or endpoint.startswith(OPEN_PREFIXES):
        return None
    if g.get("token_auth") or not current_user.is_authenticated:
        return None
    if not current_user.must_change_password:
        return None
    if request.path.startswith("/api/"):
        # Raised, not returned: the API's error handler gives it the one JSON error shape.
        raise Forbidden(_("请先在“我的账号”页面设置新密码。"), code="password_change_required")
    return redirect(url_for("auth.account"))


def _render(password_form: PasswordForm | None = None, language_form: LanguageForm | None = None, status=200):
    language_form = language_form or LanguageForm(locale=current_user.locale)
    return render_template("auth/account.html", password_form=password_form or PasswordForm(),
                           language_form=language_form, role_labels=admin_service.ROLE_LABELS), status


@bp.route("/account")
@login_required
def account():
    return _render()


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    form = PasswordForm()
    if not form.validate_on_submit():
        return _render(password_form=form, status=400)
    was_forced = current_user.must_change_password
    try:
        admin_service.change_own_password(current_user, form.current.data, form.new.data)
    except Invalid as err:
        form.current.errors = list(err.fields.get("current", []))
        form.new.errors = list(err.fields.get("new", []))
        return _render(password_form=form, status=422)
    flash(_("密码已修改。"), "info")
    if was_forced:
        return redirect(url_for(home_endpoint(current_user)))
    return redirect(url_for("auth.account"))


@bp.route("/account/language", methods=["POST"])
@login_required
def change_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        return _render(language_form=form, status=400)
    admin_service.set_own_locale(current_user, form.locale.data)
    response = redirect(url_for("auth.account"))
    # The cookie keeps the choice on the login page after logging out, on this device.
    response.set_cookie("lang", form.locale.data, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
