"""Places: streets → communities → sites (→ market zones), their robots, and the CSV import."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..models import Community, Site, SiteKind, Street, Zone
from ..services import admin_import, admin_places as service, webhooks
from ..services.errors import ServiceError
from . import bp
from .common import apply_errors, int_arg, place_tree
from .forms import SITE_KIND_LABELS, WEBHOOK_KIND_LABELS, ActionForm, ImportForm, NameForm, SiteForm, WebhookForm

MODELS = {"street": Street, "community": Community, "site": Site, "zone": Zone}


def _get(model, entity_id: int):
    entity = db.session.get(model, entity_id)
    if entity is None:
        abort(404)
    return entity


def _back(entity) -> str:
    if isinstance(entity, Zone):
        return url_for("admin.site_edit", site_id=entity.site_id) + "#zones"
    if isinstance(entity, Site):
        return url_for("admin.site_edit", site_id=entity.id)
    if isinstance(entity, Community):
        return url_for("admin.community_edit", community_id=entity.id)
    return url_for("admin.street_edit", street_id=entity.id)


@bp.route("/places/")
def places():
    tree = place_tree()
    street_id = int_arg("street") or next((s.id for s in tree if s.retired_at is None), None)
    street = next((s for s in tree if s.id == street_id), None)
    return render_template("admin/places.html", tree=tree, street=street, show_retired=request.args.get("retired") == "1",
                           kind_labels=SITE_KIND_LABELS, name_form=NameForm())


@bp.route("/places/streets/new", methods=["POST"])
def street_new():
    form = NameForm()
    if not form.validate_on_submit():
        flash(_("请填写街道名称。"), "error")
        return redirect(url_for("admin.places"))
    try:
        street = service.create_street(current_user, form.name.data)
    except ServiceError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.places"))
    flash(_("已新建街道 %(name)s。", name=street.name), "info")
    return redirect(url_for("admin.places", street=street.id))


@bp.route("/places/streets/<int:street_id>/communities/new", methods=["POST"])
def community_new(street_id: int):
    street = _get(Street, street_id)
    form = NameForm()
    if form.validate_on_submit():
        try:
            community = service.create_community(current_user, street, form.name.data)
            flash(_("已新建社区 %(name)s。", name=community.name), "info")
        except ServiceError as err:
            flash(err.message, "error")
    else:
        flash(_("请填写社区名称。"), "error")
    return redirect(url_for("admin.places", street=street.id))


def _owner_page(template: str, entity, webhook_form: WebhookForm | None = None, status: int = 200, **extra):
    hook = webhooks.webhook_for(entity) if not isinstance(entity, Zone) else None
    if webhook_form is None:
        webhook_form = WebhookForm(kind=hook.kind, enabled=hook.enabled, notify_dispatch=hook.notify_dispatch,
                                   overdue_times=hook.overdue_times, report_time=hook.report_time) if hook \
            else WebhookForm(overdue_times="09:00", report_time="18:00" if isinstance(entity, Street) else "")
    return render_template(template, entity=entity, hook=hook, webhook_form=webhook_form, name_form=NameForm(),
                           action_form=ActionForm(), webhook_kinds=WEBHOOK_KIND_LABELS, kind_labels=SITE_KIND_LABELS,
                           **extra), status


@bp.route("/places/streets/<int:street_id>")
def street_edit(street_id: int):
    return _owner_page("admin/street.html", _get(Street, street_id))


@bp.route("/places/communities/<int:community_id>")
def community_edit(community_id: int):
    return _owner_page("admin/community.html", _get(Community, community_id), site_form=SiteForm())


def _site_data(form: SiteForm) -> service.SiteData:
    return service.SiteData(
        name=form.name.data or "", kind=form.kind.data, address=form.address.data or "",
        latitude=float(form.latitude.data) if form.latitude.data is not None else None,
        longitude=float(form.longitude.data) if form.longitude.data is not None else None)


def _site_form(site: Site) -> SiteForm:
    return SiteForm(formdata=None, name=site.name, kind=site.kind, address=site.address, latitude=site.latitude,
                    longitude=site.longitude)


@bp.route("/places/communities/<int:community_id>/sites/new", methods=["POST"])
def site_new(community_id: int):
    community = _get(Community, community_id)
    form = SiteForm()
    if form.validate_on_submit():
        try:
            site = service.create_site(current_user, community, _site_data(form))
        except ServiceError as err:
            apply_errors(form, err)
        else:
            flash(_("已新建点位 %(name)s。", name=site.name), "info")
            return redirect(url_for("admin.site_edit", site_id=site.id))
    return _owner_page("admin/community.html", community, site_form=form, status=422)


@bp.route("/places/sites/<int:site_id>", methods=["GET", "POST"])
def site_edit(site_id: int):
    site = _get(Site, site_id)
    if request.method == "GET":
        return _owner_page("admin/site.html", site, site_form=_site_form(site))
    form = SiteForm()
    if form.validate_on_submit():
        try:
            service.update_site(current_user, site, _site_data(form))
        except ServiceError as err:
            apply_errors(form, err)
        else:
            flash(_("已保存 %(name)s。", name=site.name), "info")
            return redirect(url_for("admin.site_edit", site_id=site.id))
    return _owner_page("admin/site.html", site, site_form=form, status=422)


@bp.route("/places/sites/<int:site_id>/zones/new", methods=["POST"])
def zone_new(site_id: int):
    site = _get(Site, site_id)
    form = NameForm()
    if form.validate_on_submit():
        try:
            service.create_zone(current_user, site, form.name.data)
        except ServiceError as err:
            flash(err.message, "error")
    return redirect(url_for("admin.site_edit", site_id=site.id) + "#zones")


@bp.route("/places/<any(street,community,zone):kind>/<int:entity_id>/rename", methods=["POST"])
def place_rename(kind: str, entity_id: int):
    entity = _get(MODELS[kind], entity_id)
    form = NameForm()
    if form.validate_on_submit():
        try:
            service.rename(current_user, entity, form.name.data)
            flash(_("已改名为 %(name)s。", name=entity.name), "info")
        except ServiceError as err:
            flash(err.message, "error")
    return redirect(_back(entity))


@bp.route("/places/<any(street,community,site,zone):kind>/<int:entity_id>/<any(retire,restore):verb>",
          methods=["POST"])
def place_retire(kind: str, entity_id: int, verb: str):
    entity = _get(MODELS[kind], entity_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if verb == "retire":
            count = service.retire(current_user, entity)
            flash(_("已停用 %(name)s(共 %(n)d 项)。它不再出现在选择列表中,历史记录和报表不受影响。",
                    name=entity.name, n=count), "info")
        else:
            count = service.restore(current_user, entity)
            flash(_("已恢复 %(name)s(共 %(n)d 项)。", name=entity.name, n=count), "info")
    except ServiceError as err:
        flash(err.message, "error")
    return redirect(_back(entity))


@bp.route("/places/<any(street,community,site):kind>/<int:entity_id>/webhook", methods=["POST"])
def webhook_save(kind: str, entity_id: int):
    entity = _get(MODELS[kind], entity_id)
    if isinstance(entity, Site) and entity.kind != SiteKind.market.value:
        abort(404)
    form = WebhookForm()
    template = f"admin/{kind}.html"
    extra = {}
    if isinstance(entity, Site):
        extra["site_form"] = _site_form(entity)
    elif isinstance(entity, Community):
        extra["site_form"] = SiteForm()
    if not form.validate_on_submit():
        return _owner_page(template, entity, form, status=400, **extra)
    data = webhooks.WebhookData(
        kind=form.kind.data, url=form.url.data or "", secret=form.secret.data or "",
        clear_secret=form.clear_secret.data, enabled=form.enabled.data, notify_dispatch=form.notify_dispatch.data,
        overdue_times=form.overdue_times.data or "", report_time=form.report_time.data or "")
    try:
        webhooks.save_webhook(current_user, entity, data)
    except ServiceError as err:
        apply_errors(form, err)
        return _owner_page(template, entity, form, status=422, **extra)
    flash(_("群机器人已保存。地址和密钥已加密保存,之后只显示末尾几位。"), "info")
    return redirect(_back(entity) + "#webhook")


@bp.route("/places/<any(street,community,site):kind>/<int:entity_id>/webhook/delete", methods=["POST"])
def webhook_delete(kind: str, entity_id: int):
    entity = _get(MODELS[kind], entity_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.delete_webhook(current_user, entity)
    flash(_("已移除群机器人。"), "info")
    return redirect(_back(entity) + "#webhook")


@bp.route("/places/import", methods=["GET", "POST"])
def places_import():
    form = ImportForm()
    if request.method == "GET":
        return render_template("admin/import.html", form=form, preview=None, text="")
    if not form.validate_on_submit():
        abort(400)
    upload = form.file.data
    text = ""
    try:
        if upload and upload.filename:
            text = admin_import.decode_csv(upload.read())
            filename = upload.filename
        else:
            text = form.text.data or ""
            filename = request.form.get("filename", "")
        if request.form.get("confirm") == "1":
            summary = admin_import.import_csv(current_user, text, filename)
            flash(_("导入完成:新建街道 %(s)d 个、社区 %(c)d 个、点位 %(p)d 个,更新点位 %(u)d 个,未变 %(n)d 个。",
                    s=summary.streets, c=summary.communities, p=summary.sites, u=summary.updated_sites,
                    n=summary.unchanged_sites), "info")
            return redirect(url_for("admin.places"))
    except ServiceError as err:
        errors = apply_errors(form, err)
        return render_template("admin/import.html", form=form, preview=admin_import.preview(text) if text else None,
                               text=text, filename="", errors=errors), 422
    result = admin_import.preview(text)
    return render_template("admin/import.html", form=form, preview=result, text=text, filename=filename,
                           kind_labels=SITE_KIND_LABELS), 200 if result.ok else 422
