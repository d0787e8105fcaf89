"""Users: list, create, edit, disable/enable, reset password, revoke API tokens."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import ApiToken, User
from ..services import admin as service
from ..services.errors import ServiceError
from . import bp
from .common import apply_errors, market_sites, paginate, place_tree
from .forms import ActionForm, UserForm


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _form_page(form: UserForm, user: User | None, errors: list[str] = (), status: int = 200):
    tokens = list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                     .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc()))) \
        if user else []
    return render_template("admin/user_form.html", form=form, user=user, errors=errors, tokens=tokens,
                           tree=place_tree(), markets=market_sites(), action_form=ActionForm(),
                           role_labels=service.ROLE_LABELS), status


def _data(form: UserForm) -> service.UserData:
    return service.UserData(display_name=form.display_name.data or "", roles=form.roles.data or [],
                            street_ids=form.street_ids.data or [], community_ids=form.community_ids.data or [],
                            site_ids=form.site_ids.data or [], locale=form.locale.data or "zh_CN")


def _password_page(user: User, password: str, created: bool):
    return render_template("admin/user_password.html", user=user, password=password, created=created)


@bp.route("/users/")
def users():
    query = service.UserQuery(q=request.args.get("q", "").strip(), role=request.args.get("role", ""),
                              state=request.args.get("state", ""))
    page = paginate(service.user_select(query))
    return render_template("admin/users.html", page=page, query=query, role_labels=service.ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = UserForm()
    if request.method == "GET":
        form.locale.data = "zh_CN"
        return _form_page(form, None)
    if not form.validate_on_submit():
        return _form_page(form, None, status=400)
    try:
        user, password = service.create_user(current_user, form.username.data or "", _data(form))
    except ServiceError as err:
        return _form_page(form, None, apply_errors(form, err), status=422)
    return _password_page(user, password, created=True)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    user = _user_or_404(user_id)
    if request.method == "GET":
        form = UserForm(username=user.username, display_name=user.display_name, locale=user.locale,
                        roles=sorted(user.roles), street_ids=[s.id for s in user.streets],
                        community_ids=[c.id for c in user.communities], site_ids=[s.id for s in user.sites])
        return _form_page(form, user)
    form = UserForm()
    if not form.validate_on_submit():
        return _form_page(form, user, status=400)
    try:
        service.update_user(current_user, user, _data(form))
    except ServiceError as err:
        return _form_page(form, user, apply_errors(form, err), status=422)
    flash(_("已保存 %(name)s。", name=user.display_name), "info")
    return redirect(url_for("admin.user_edit", user_id=user.id))


def _action(user_id: int, verb):
    user = _user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        return verb(user)
    except ServiceError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.user_edit", user_id=user.id))


def _set_disabled(user_id: int, disabled: bool):
    def verb(user):
        service.set_disabled(current_user, user, disabled)
        if disabled:
            flash(_("已停用 %(name)s:登录和令牌都已失效。", name=user.display_name), "info")
        else:
            flash(_("已启用 %(name)s。", name=user.display_name), "info")
        return redirect(url_for("admin.user_edit", user_id=user.id))
    return _action(user_id, verb)


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def user_disable(user_id: int):
    return _set_disabled(user_id, True)


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
def user_enable(user_id: int):
    return _set_disabled(user_id, False)


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
def user_reset_password(user_id: int):
    return _action(user_id, lambda user: _password_page(user, service.reset_password(current_user, user),
                                                        created=False))


@bp.route("/users/<int:user_id>/tokens/<int:token_id>/revoke", methods=["POST"])
def token_revoke(user_id: int, token_id: int):
    def verb(user):
        service.revoke_token(current_user, user, token_id)
        flash(_("令牌已吊销。"), "info")
        return redirect(url_for("admin.user_edit", user_id=user.id) + "#tokens")
    return _action(user_id, verb)
