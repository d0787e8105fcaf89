"""Categories: names, family, deadline rule, routing, active flag and the capture screen's order."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Category
from ..services import admin_places as service
from ..services.categories import FAMILY_LABELS
from ..services.errors import ServiceError
from . import bp
from .common import apply_errors
from .forms import DEADLINE_UNIT_LABELS, ROUTES_TO_LABELS, ActionForm, CategoryForm


def _get(category_id: int) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404)
    return category


def _data(form: CategoryForm) -> service.CategoryData:
    return service.CategoryData(code=form.code.data or "", name_zh=form.name_zh.data or "",
                                name_en=form.name_en.data or "", family=form.family.data,
                                deadline_unit=form.deadline_unit.data, deadline_value=form.deadline_value.data or 0,
                                routes_to=form.routes_to.data)


@bp.route("/categories/")
def categories():
    rows = list(db.session.scalars(select(Category).order_by(Category.retired_at.is_not(None), Category.sort_order,
                                                             Category.id)))
    return render_template("admin/categories.html", categories=rows, families=FAMILY_LABELS, units=DEADLINE_UNIT_LABELS,
                           routes=ROUTES_TO_LABELS, action_form=ActionForm())


def _form_page(form: CategoryForm, category: Category | None, errors=(), status: int = 200):
    return render_template("admin/category_form.html", form=form, category=category, errors=errors,
                           action_form=ActionForm()), status


@bp.route("/categories/new", methods=["GET", "POST"])
def category_new():
    form = CategoryForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                category = service.create_category(current_user, _data(form))
            except ServiceError as err:
                return _form_page(form, None, apply_errors(form, err), 422)
            flash(_("已新建类别 %(name)s。", name=category.name_zh), "info")
            return redirect(url_for("admin.categories"))
        return _form_page(form, None, status=400)
    return _form_page(form, None)


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
def category_edit(category_id: int):
    category = _get(category_id)
    if request.method == "GET":
        form = CategoryForm(formdata=None, code=category.code, name_zh=category.name_zh, name_en=category.name_en,
                            family=category.family, deadline_unit=category.deadline_unit,
                            deadline_value=category.deadline_value, routes_to=category.routes_to)
        return _form_page(form, category)
    form = CategoryForm()
    if not form.validate_on_submit():
        return _form_page(form, category, status=400)
    try:
        service.update_category(current_user, category, _data(form))
    except ServiceError as err:
        return _form_page(form, category, apply_errors(form, err), 422)
    flash(_("已保存类别 %(name)s。", name=category.name_zh), "info")
    return redirect(url_for("admin.categories"))


@bp.route("/categories/<int:category_id>/<any(up,down,retire,restore):verb>", methods=["POST"])
def category_action(category_id: int, verb: str):
    category = _get(category_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if verb in ("up", "down"):
            service.move_category(current_user, category, -1 if verb == "up" else 1)
        elif verb == "retire":
            service.retire(current_user, category)
            flash(_("已停用类别 %(name)s:采集界面不再显示,已有记录不变。", name=category.name_zh), "info")
        else:
            service.restore(current_user, category)
            flash(_("已恢复类别 %(name)s。", name=category.name_zh), "info")
    except ServiceError as err:
        flash(err.message, "error")
    return redirect(url_for("admin.categories") + f"#c{category.id}")
