"""GET /api/v1/reference: active rows only, scoped per user, revalidated with a strong ETag."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.api_support import fast_user, token_client
from tests.factories import category, make_community, make_site, make_street
from webapp.extensions import db
from webapp.models import Category, Community, Site


@pytest.fixture
def places(app):
    with app.app_context():
        street = make_street("柳园街道")
        wenyuan = make_community(street, "文苑社区")
        gongyuan = make_community(street, "公园社区")
        market = make_site(wenyuan, "湖西早市", kind="market", zones=("果蔬区", "活禽区"), latitude=36.45,
                           longitude=115.98, address="湖西路")
        make_site(gongyuan, "新嘉园小区")
        category("litter")
        fast_user("insp")
        fast_user("staff", roles=("community",), communities=[gongyuan])
        db.session.commit()
        return {"wenyuan": wenyuan.id, "gongyuan": gongyuan.id, "market": market.id}


def test_reference_lists_places_and_categories(app, places, openapi_checker):
    api = token_client(app, openapi_checker, "insp")
    response = api.get("/api/v1/reference")
    assert response.status_code == 200
    body = response.get_json()
    assert [c["name"] for c in body["communities"]] == sorted(["文苑社区", "公园社区"])
    market = next(s for s in body["sites"] if s["id"] == places["market"])
    assert market == {"id": places["market"], "community_id": places["wenyuan"], "name": "湖西早市", "kind": "market",
                      "lat": 36.45, "lon": 115.98, "address": "湖西路"}
    assert {z["name"] for z in body["zones"] if z["site_id"] == places["market"]} == {"果蔬区", "活禽区"}
    codes = [c["code"] for c in body["categories"]]
    assert codes[0] == "shop_outside" and "litter" in codes
    assert body["families"]["market"] == {"name_zh": "市场秩序", "name_en": "Market order"}


def test_reference_etag_and_304(app, places, openapi_checker):
    api = token_client(app, openapi_checker, "insp")
    first = api.get("/api/v1/reference")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = api.get("/api/v1/reference", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    with app.app_context():
        db.session.get(Site, places["market"]).name = "湖西早市(新)"
        db.session.commit()
    changed = api.get("/api/v1/reference", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_retired_rows_are_left_out(app, places, openapi_checker):
    now = datetime.now(timezone.utc)
    with app.app_context():
        db.session.get(Community, places["wenyuan"]).retired_at = now
        db.session.query(Category).filter_by(code="litter").one().retired_at = now
        db.session.commit()
    body = token_client(app, openapi_checker, "insp").get("/api/v1/reference").get_json()
    assert [c["name"] for c in body["communities"]] == ["公园社区"]
    # The retired community's market and its zones go with it.
    assert all(s["id"] != places["market"] for s in body["sites"])
    assert body["zones"] == []
    assert "litter" not in [c["code"] for c in body["categories"]]


def test_community_staff_see_only_their_community(app, places, openapi_checker):
    body = token_client(app, openapi_checker, "staff").get("/api/v1/reference").get_json()
    assert [c["id"] for c in body["communities"]] == [places["gongyuan"]]
    assert [s["name"] for s in body["sites"]] == ["新嘉园小区"]


def test_reference_needs_login(api):
    response = api.get("/api/v1/reference")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"
