"""Admin console: places (create, rename, retire/restore, zones, coordinates), CSV import, categories.

Retirement must keep history: a finding at a retired site still names it and the daily report still
lists it, while the phone's pick lists (the sync API's reference data) no longer offer it.
"""
from __future__ import annotations

import io
from zoneinfo import ZoneInfo
import pytest
from sqlalchemy import func, select

from tests.conftest import Auth, csrf_from
from tests.factories import category, make_community, make_finding, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Category, Community, Site, Street, Zone
from webapp.services import admin_places
from webapp.services.daily_report import build_daily_report
from webapp.services.daily_report_text import chat_parts


@pytest.fixture
def admin(ctx, auth):
    user = make_user("boss", roles=("admin",))
    db.session.commit()
    auth.login("boss")
    return user


def token(client, url="/admin/places/") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_create_street_community_site_with_coordinates_and_zones(app, client, admin):
    csrf = token(client)
    assert client.post("/admin/places/streets/new", data={"csrf_token": csrf, "name": "古楼街道"}).status_code == 302
    street = db.session.scalar(select(Street).where(Street.name == "古楼街道"))
    client.post(f"/admin/places/streets/{street.id}/communities/new", data={"csrf_token": csrf, "name": "香江社区"})
    community = db.session.scalar(select(Community).where(Community.name == "香江社区"))
    response = client.post(f"/admin/places/communities/{community.id}/sites/new", data={
        "csrf_token": csrf, "name": "湖西早市", "kind": "market", "address": "东昌府区湖西",
        "latitude": "36.451234", "longitude": "115.985678"})
    assert response.status_code == 302
    site = db.session.scalar(select(Site).where(Site.name == "湖西早市"))
    assert (site.kind, site.latitude, site.longitude) == ("market", 36.451234, 115.985678)
    page = client.get(f"/admin/places/sites/{site.id}").get_data(as_text=True)
    assert "data-locate" in page and 'data-coord="lat"' in page  # the phone-position button
    client.post(f"/admin/places/sites/{site.id}/zones/new", data={"csrf_token": csrf, "name": "活禽区"})
    client.post(f"/admin/places/sites/{site.id}/zones/new", data={"csrf_token": csrf, "name": "水产品区"})
    assert [z.name for z in db.session.scalars(select(Zone).order_by(Zone.sort_order))] == ["活禽区", "水产品区"]
    assert actions() == ["street.create", "community.create", "site.create", "zone.create", "zone.create"]


def test_site_form_rejects_half_coordinates_and_duplicates(app, client, admin):
    community = make_community(name="文苑社区")
    make_site(community, "聊城二中家属院")
    db.session.commit()
    csrf = token(client)
    response = client.post(f"/admin/places/communities/{community.id}/sites/new", data={
        "csrf_token": csrf, "name": "新点位", "kind": "other", "latitude": "36.4"})
    assert response.status_code == 422 and "经纬度要同时填写" in response.get_data(as_text=True)
    response = client.post(f"/admin/places/communities/{community.id}/sites/new", data={
        "csrf_token": csrf, "name": "聊城二中家属院", "kind": "residential"})
    assert response.status_code == 422 and "已有同名" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Site.id))) == 1
    assert actions() == []


def test_rename_keeps_history_pointing_at_the_same_row(app, client, admin):
    community = make_community(make_street("柳园街道"), "公园社区")
    site = make_site(community, "新嘉园小区")
    finding = make_finding(make_user("insp"), community, site=site)
    db.session.commit()
    client.post(f"/admin/places/community/{community.id}/rename", data={"csrf_token": token(client), "name": "公园新社区"})
    db.session.expire_all()
    assert finding.community.name == "公园新社区"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "community.rename"))
    assert (event.before, event.after) == ({"name": "公园社区"}, {"name": "公园新社区"})


def test_retire_street_cascades_hides_from_pick_lists_keeps_history_and_restores(app, client, admin):
    street = make_street("新区街道")
    community = make_community(street, "湖西社区")
    market = make_site(community, "湖西早市", kind="market", zones=("活禽区",))
    other = make_site(community, "湖西小区")
    inspector = make_user("insp", roles=("inspector",))
    finding = make_finding(inspector, community, site=market, status="accepted")
    db.session.commit()
    admin_places.retire(admin, other)  # retired on its own, earlier: must stay retired on restore
    csrf = token(client)
    response = client.post(f"/admin/places/street/{street.id}/retire", data={"csrf_token": csrf})
    assert response.status_code == 302
    db.session.expire_all()
    assert all(x.retired_at is not None for x in (street, community, market, market.zones[0], other))

    # History: the finding still names its place, and the day's report still lists the site.
    assert (finding.site.name, finding.community.name) == ("湖西早市", "湖西社区")
    day = finding.captured_at.astimezone(ZoneInfo(app.config["LOCAL_TIMEZONE"])).date()
    assert "湖西早市" in "\n".join(chat_parts(build_daily_report(admin, day)))

    # Pick lists: the phone's reference data no longer offers any of it.
    client.post("/logout", data={"csrf_token": csrf})
    Auth(client).login("insp")
    ref = client.get("/api/v1/reference").get_json()
    names = {s["name"] for s in ref["sites"]} | {c["name"] for c in ref["communities"]} | {s["name"] for s in ref["streets"]}
    assert not names & {"新区街道", "湖西社区", "湖西早市", "湖西小区"}
    assert "活禽区" not in {z["name"] for z in ref["zones"]}

    admin_places.restore(admin, street)
    db.session.expire_all()
    assert street.retired_at is None and community.retired_at is None and market.retired_at is None
    assert other.retired_at is not None
    assert actions() == ["site.retire", "street.retire", "street.restore"]


def test_restore_child_of_retired_parent_is_refused(app, ctx):
    actor = make_user("root", roles=("admin",))
    site = make_site()
    db.session.commit()
    admin_places.retire(actor, site.community)
    with pytest.raises(Exception) as err:
        admin_places.restore(actor, site)
    assert "先恢复上级" in str(err.value)


CSV_OK = (
    "街道,社区,点位,类型,纬度,经度,地址\n"
    "古楼街道,香江社区,湖西早市,早市,36.4512,115.9856,东昌府区湖西\n"
    "古楼街道,汇金社区,运河路西沿儿商户,门店,,,\n"
)
CSV_BAD = (
    "street,community,site,kind,lat,lon\n"
    "古楼街道,香江社区,湖西早市,market,36.45,115.98\n"
    "古楼街道,,无社区点位,market,36.45,115.98\n"
    "古楼街道,香江社区,坏坐标,market,99,115.98\n"
)


def test_csv_preview_writes_nothing_then_confirm_imports_and_audits(app, client, admin):
    csrf = token(client, "/admin/places/import")
    response = client.post("/admin/places/import", data={
        "csrf_token": csrf, "file": (io.BytesIO(CSV_OK.encode("gb18030")), "places.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "湖西早市" in page and "确认导入这 2 行" in page
    assert db.session.scalar(select(func.count(Site.id))) == 0  # a preview writes nothing
    assert actions() == []
    response = client.post("/admin/places/import", data={"csrf_token": csrf, "text": CSV_OK, "confirm": "1",
                                                         "filename": "places.csv"})
    assert response.status_code == 302
    assert sorted(db.session.scalars(select(Site.name))) == ["湖西早市", "运河路西沿儿商户"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "places.import"))
    assert event.entity_label == "places.csv"
    assert event.after == {"rows": 2, "streets": 1, "communities": 2, "sites": 2, "updated_sites": 0,
                           "unchanged_sites": 0}
    # The same file again: every row is "unchanged" in the preview.
    page = client.post("/admin/places/import", data={"csrf_token": csrf, "text": CSV_OK}).get_data(as_text=True)
    assert "不变 2" in page


def test_csv_errors_are_line_numbered_and_nothing_is_written(app, client, admin):
    csrf = token(client, "/admin/places/import")
    response = client.post("/admin/places/import", data={"csrf_token": csrf, "text": CSV_BAD})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-line="3"' in page and "第3行" in page and "缺少社区" in page
    assert 'data-line="4"' in page and "第4行" in page and "纬度无效" in page
    assert "确认导入" not in page
    # A forged confirm with the bad text is parsed again and refused.
    response = client.post("/admin/places/import", data={"csrf_token": csrf, "text": CSV_BAD, "confirm": "1"})
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(Site.id))) == 0
    assert actions() == []


def test_csv_header_error(app, client, admin):
    csrf = token(client, "/admin/places/import")
    page = client.post("/admin/places/import", data={"csrf_token": csrf, "text": "名称,地址\nx,y\n"}).get_data(as_text=True)
    assert "第1行" in page and "表头缺少列" in page


def test_category_create_edit_order_retire_all_audited(app, client, admin):
    category("litter")  # seeds the campaign's categories
    db.session.commit()
    csrf = token(client, "/admin/categories/new")
    response = client.post("/admin/categories/new", data={
        "csrf_token": csrf, "code": "stall_fire", "name_zh": "占道烧烤", "name_en": "Street barbecue",
        "family": "street_order", "deadline_unit": "hours", "deadline_value": "4", "routes_to": "community"})
    assert response.status_code == 302
    new = db.session.scalar(select(Category).where(Category.code == "stall_fire"))
    last_order = db.session.scalar(select(func.max(Category.sort_order)))
    assert new.sort_order == last_order and (new.deadline_unit, new.deadline_value) == ("hours", 4)

    client.post(f"/admin/categories/{new.id}/up", data={"csrf_token": csrf})
    ordered = list(db.session.scalars(select(Category.code).order_by(Category.sort_order)))
    assert ordered[-2:] == ["stall_fire", "staff_absent"]

    response = client.post(f"/admin/categories/{new.id}", data={
        "csrf_token": csrf, "code": "ignored", "name_zh": "占道烧烤", "name_en": "Street barbecue",
        "family": "street_order", "deadline_unit": "same_day", "deadline_value": "9", "routes_to": "market"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (new.code, new.deadline_unit, new.deadline_value, new.routes_to) == ("stall_fire", "same_day", 0, "market")

    client.post(f"/admin/categories/{new.id}/retire", data={"csrf_token": csrf})
    db.session.expire_all()
    assert new.retired_at is not None
    update = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "category.update"))
    assert update.before == {"deadline_unit": "hours", "deadline_value": 4, "routes_to": "community"}
    assert update.after == {"deadline_unit": "same_day", "deadline_value": 0, "routes_to": "market"}
    assert actions() == ["category.create", "category.move", "category.update", "category.retire"]


@pytest.mark.parametrize("unit, value, field", [("hours", "0", "deadline_value"), ("days", "91", "deadline_value"),
                                                ("weeks", "1", "deadline_unit")])
def test_category_deadline_rule_validated(app, client, admin, unit, value, field):
    csrf = token(client, "/admin/categories/new")
    response = client.post("/admin/categories/new", data={
        "csrf_token": csrf, "code": "x1", "name_zh": "某类", "family": "environment", "deadline_unit": unit,
        "deadline_value": value, "routes_to": "community"})
    assert response.status_code in (400, 422)
    assert db.session.scalar(select(Category).where(Category.code == "x1")) is None


def test_pages_render(app, client, admin):
    site = make_site(make_community(make_street("古楼街道"), "香江社区"), "湖西早市", kind="market",
                     zones=("活禽区",))
    category("litter")
    db.session.commit()
    for url in ("/admin/", "/admin/places/", f"/admin/places/streets/{site.community.street_id}",
                f"/admin/places/communities/{site.community_id}", f"/admin/places/sites/{site.id}",
                "/admin/places/import", "/admin/categories/", "/admin/categories/new", "/admin/notices/",
                "/admin/audit/", "/admin/users/", "/admin/users/new", "/account"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "style=" not in response.get_data(as_text=True), url
