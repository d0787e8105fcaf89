"""Open311 GeoReport v2: discovery, services, requests (filters, limits, formats), signed media links."""
from __future__ import annotations

import json
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest

from tests.api_support import digest, jpeg
from tests.factories import category, make_community, make_finding, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import Category, Finding
from webapp.services import photos as photo_service

REQUEST_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
)


@pytest.fixture
def city(ctx):
    """Places from the seed page: 柳园街道 → 文苑社区 → 二中家属院; 公园社区 → 新嘉园小区."""
    street = make_street("柳园街道")
    wenyuan = make_community(street, "文苑社区")
    gongyuan = make_community(street, "公园社区")
    erzhong = make_site(wenyuan, "聊城二中家属院", latitude=36.4560, longitude=115.9850, address="柳园街道文苑社区二中家属院")
    xinjia = make_site(gongyuan, "新嘉园小区", latitude=36.4700, longitude=115.9700)
    inspector = make_user("insp", roles=("inspector",))
    category("litter")  # every campaign category exists
    db.session.commit()
    return {"street": street, "wenyuan": wenyuan, "gongyuan": gongyuan, "erzhong": erzhong, "xinjia": xinjia,
            "inspector": inspector}


def finding(city, status, *, days_ago=1.0, code="litter", site="erzhong", **kw) -> Finding:
    site_row = city[site]
    return make_finding(city["inspector"], site_row.community, site=site_row, status=status, category_code=code,
                        captured_at=datetime.now(timezone.utc) - timedelta(days=days_ago),
                        latitude=site_row.latitude, longitude=site_row.longitude, **kw)


def listed(client, query="", fmt="json"):
    response = client.get(f"/open311/v2/requests.{fmt}{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def ids(response) -> set[str]:
    return {r["service_request_id"] for r in response.get_json()}


def test_discovery_lists_the_endpoint_in_both_formats(client):
    body = client.get("/open311/v2/discovery.json").get_json()
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"application/json", "text/xml"}
    xml = client.get("/open311/v2/discovery.xml")
    assert xml.mimetype == "text/xml"
    root = ET.fromstring(xml.data)
    assert root.tag == "discovery"
    assert [f.text for f in root.find("endpoints/endpoint/formats")] == ["application/json", "text/xml"]


def test_reads_are_open_to_other_origins_but_posts_are_not(client):
    read = client.get("/open311/v2/services.json")
    assert read.headers["Access-Control-Allow-Origin"] == "*"
    post_response = client.post("/open311/v2/requests.json", data={"service_code": "litter"})
    assert post_response.status_code == 403
    assert "Access-Control-Allow-Origin" not in post_response.headers
    assert post_response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_services_are_the_categories(client, ctx):
    category("litter")
    retired = db.session.query(Category).filter_by(code="staff_absent").one()
    retired.retired_at = datetime.now(timezone.utc)
    db.session.commit()
    services = client.get("/open311/v2/services.json").get_json()
    codes = [s["service_code"] for s in services]
    assert "litter" in codes and "poultry_open" in codes
    assert "staff_absent" not in codes
    litter = next(s for s in services if s["service_code"] == "litter")
    assert litter == {"service_code": "litter", "service_name": "散落垃圾", "description": "散落垃圾",
                      "metadata": False, "type": "realtime", "keywords": "", "group": "市容环境"}
    root = ET.fromstring(client.get("/open311/v2/services.xml").data)
    assert root.tag == "services"
    first = root.find("service")
    assert first.find("metadata").text == "false" and first.find("type").text == "realtime"
    assert len(root.findall("service")) == len(services)


def test_only_accepted_findings_are_requests(client, city):
    shown = {status: finding(city, status).uuid
             for status in ("accepted", "dispatched", "acknowledged", "disputed", "rectified", "verified")}
    hidden = [finding(city, status).uuid for status in ("submitted", "rejected", "duplicate")]
    hidden.append(make_finding(city["inspector"], city["wenyuan"], kind="ok").uuid)
    db.session.commit()
    records = {r["service_request_id"]: r for r in listed(client).get_json()}
    assert set(records) == set(shown.values())
    assert not set(hidden) & set(records)
    assert records[shown["verified"]]["status"] == "closed"
    assert {records[shown[s]]["status"] for s in shown if s != "verified"} == {"open"}
    assert records[shown["rectified"]]["status_notes"] == "已整改,待督导员核查"


def test_request_fields_follow_the_spec(client, city):
    deadline = datetime(2026, 11, 26, 15, 59, 59, tzinfo=timezone.utc)
    row = finding(city, "dispatched", note="门口堆放纸箱", deadline=deadline, party_kind="community",
                  party_community=city["wenyuan"])
    db.session.commit()
    [record] = listed(client).get_json()
    assert tuple(record) == REQUEST_FIELDS
    assert record["service_request_id"] == row.uuid
    assert record["service_code"] == "litter" and record["service_name"] == "散落垃圾"
    assert record["description"] == "门口堆放纸箱"
    assert record["agency_responsible"] == "文苑社区"
    assert record["expected_datetime"] == "2026-11-26T23:59:59+08:00"
    assert record["requested_datetime"].endswith("+08:00")
    assert datetime.fromisoformat(record["requested_datetime"]) == row.captured_at.replace(microsecond=0)
    assert record["address"] == "柳园街道文苑社区二中家属院"
    assert (record["lat"], record["long"]) == (36.456, 115.985)
    assert record["media_url"] is None  # no photo attached

    one = client.get(f"/open311/v2/requests/{row.uuid}.json")
    assert one.status_code == 200 and one.get_json() == [record]
    root = ET.fromstring(client.get(f"/open311/v2/requests/{row.uuid}.xml").data)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert [child.tag for child in request] == list(REQUEST_FIELDS)
    assert request.find("service_request_id").text == row.uuid
    assert request.find("expected_datetime").text == "2026-11-26T23:59:59+08:00"


def test_unknown_or_hidden_request_is_a_spec_error(client, city):
    rejected = finding(city, "rejected")
    db.session.commit()
    for rid in (rejected.uuid, str(uuidlib.uuid4()), "not-a-uuid"):
        response = client.get(f"/open311/v2/requests/{rid}.json")
        assert response.status_code == 404
        [error] = response.get_json()
        assert error["code"] == 404 and error["description"]
    xml = client.get(f"/open311/v2/requests/{rejected.uuid}.xml")
    assert xml.status_code == 404
    root = ET.fromstring(xml.data)
    assert root.tag == "errors" and root.find("error/code").text == "404"


def test_filters_by_id_list_code_status_and_dates(client, city):
    a = finding(city, "accepted", code="litter", days_ago=1)
    b = finding(city, "verified", code="bin_overflow", days_ago=2)
    c = finding(city, "dispatched", code="flyposting", days_ago=10)
    old = finding(city, "verified", code="litter", days_ago=120)
    db.session.commit()
    # Default window: the last 90 days.
    assert ids(listed(client)) == {a.uuid, b.uuid, c.uuid}
    # An id list overrides every other filter (the old one is found, the status filter ignored).
    assert ids(listed(client, f"?service_request_id={a.uuid},{old.uuid}&status=open")) == {a.uuid, old.uuid}
    assert ids(listed(client, "?service_code=litter,bin_overflow")) == {a.uuid, b.uuid}
    assert ids(listed(client, "?status=open")) == {a.uuid, c.uuid}
    assert ids(listed(client, "?status=closed")) == {b.uuid}
    assert ids(listed(client, "?status=open,closed")) == {a.uuid, b.uuid, c.uuid}
    now = datetime.now(timezone.utc)
    start = (now - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(listed(client, f"?start_date={start}")) == {a.uuid, b.uuid}
    window = (f"?start_date={(now - timedelta(days=130)).isoformat().replace('+00:00', 'Z')}"
              f"&end_date={(now - timedelta(days=50)).isoformat().replace('+00:00', 'Z')}")
    assert ids(listed(client, window)) == {old.uuid}
    # Only an end date: the 90 days before it.
    end_only = f"?end_date={(now - timedelta(days=5)).isoformat().replace('+00:00', 'Z')}"
    assert ids(listed(client, end_only)) == {c.uuid}
    # Newest first.
    assert [r["service_request_id"] for r in listed(client).get_json()] == [a.uuid, b.uuid, c.uuid]


@pytest.mark.parametrize("query, fragment", [
    ("?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90 days"),
    ("?start_date=2026-06-01T00:00:00Z&end_date=2026-05-01T00:00:00Z", "before"),
    ("?start_date=yesterday", "start_date"),
    ("?status=pending", "status"),
])
def test_bad_filters_are_400_in_the_spec_shape(client, query, fragment):
    response = client.get(f"/open311/v2/requests.json{query}")
    assert response.status_code == 400
    [error] = response.get_json()
    assert error["code"] == 400 and fragment in error["description"]
    xml = client.get(f"/open311/v2/requests.xml{query}")
    assert xml.status_code == 400 and ET.fromstring(xml.data).find("error/code").text == "400"


def test_at_most_1000_requests(client, city):
    now = datetime.now(timezone.utc)
    litter = category("litter")
    rows = [Finding(uuid=str(uuidlib.uuid4()), kind="problem", inspector=city["inspector"],
                    community=city["wenyuan"], category=litter, status="accepted", payload_hash="0" * 64,
                    captured_at=now - timedelta(minutes=i)) for i in range(1001)]
    db.session.add_all(rows)
    db.session.commit()
    records = listed(client).get_json()
    assert len(records) == 1000
    assert rows[-1].uuid not in {r["service_request_id"] for r in records}  # the oldest is the one left out


def test_xml_list_round_trips_the_json(client, city):
    finding(city, "accepted", note="占道经营 <水果摊> & 三轮车")
    db.session.commit()
    [record] = listed(client).get_json()
    root = ET.fromstring(listed(client, fmt="xml").data)
    request = root.find("request")
    assert request.find("description").text == "占道经营 <水果摊> & 三轮车"
    for name, value in record.items():
        text = request.find(name).text or ""
        assert text == ("" if value is None else str(value)), name


# --- media links -------------------------------------------------------------------------------------

def _attach_photo(city, row: Finding) -> bytes:
    data = jpeg((800, 600))
    photo, _ = photo_service.ingest_photo(city["inspector"], str(uuidlib.uuid4()), data, "image/jpeg", digest(data))
    row = db.session.get(Finding, row.id)
    photo_service.attach_photos(row, [photo], "before", city["inspector"], datetime.now(timezone.utc))
    db.session.commit()
    return photo_service.variant_sha256(photo, "view")


def _served(client, media_url):
    path = media_url.split("://", 1)[1].split("/", 1)[1]
    return client.get("/" + path)


def test_media_url_is_a_signed_link_to_the_view(app, client, city):
    import hashlib

    row = finding(city, "accepted")
    db.session.commit()
    view_sha = _attach_photo(city, row)
    [record] = listed(client).get_json()
    assert record["media_url"].startswith("http://localhost/open311/v2/media/")
    response = _served(client, record["media_url"])
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert hashlib.sha256(response.data).hexdigest() == view_sha
    # Partner pages on other origins may embed it (the app's default policy is same-origin).
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # Tampering breaks the signature.
    tampered = record["media_url"].replace("/media/", "/media/x")
    assert _served(client, tampered).status_code == 404
    # Expired links are refused with the spec's error list.
    app.config["OPEN311_MEDIA_MAX_AGE"], old = -1, app.config["OPEN311_MEDIA_MAX_AGE"]
    try:
        expired = _served(client, record["media_url"])
    finally:
        app.config["OPEN311_MEDIA_MAX_AGE"] = old
    assert expired.status_code == 410 and json.loads(expired.data)[0]["code"] == 410


def test_media_stops_when_the_finding_stops_being_public(client, city):
    row = finding(city, "accepted")
    db.session.commit()
    _attach_photo(city, row)
    [record] = listed(client).get_json()
    db.session.get(Finding, row.id).status = "duplicate"
    db.session.commit()
    assert _served(client, record["media_url"]).status_code == 404


# --- POST requests (partner systems) -----------------------------------------------------------------

@pytest.fixture
def partner(city):
    from webapp.auth.tokens import issue_token

    user = make_user("hotline-12345", roles=("inspector",))
    raw = issue_token(user, "12345 hotline")
    db.session.commit()
    return user, raw


def post(client, fmt="json", **form):
    return client.post(f"/open311/v2/requests.{fmt}", data=form)


def test_post_creates_a_submitted_finding_in_the_nearest_sites_community(client, city, partner):
    user, key = partner
    response = post(client, api_key=key, service_code="bin_overflow", lat="36.4702", long="115.9703",
                    description="小区门口垃圾桶满溢", media_url="https://partner.example/p/1.jpg",
                    email="citizen@example.com", first_name="某")
    assert response.status_code == 201, response.get_data(as_text=True)
    [answer] = response.get_json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    row = db.session.scalar(db.select(Finding).where(Finding.uuid == answer["service_request_id"]))
    assert row.status == "submitted" and row.kind == "problem"
    assert row.inspector_id == user.id
    assert row.community_id == city["gongyuan"].id  # 新嘉园小区 is 30 m away
    assert row.category.code == "bin_overflow"
    assert (row.latitude, row.longitude) == (36.4702, 115.9703)
    assert row.note.startswith("小区门口垃圾桶满溢") and "https://partner.example/p/1.jpg" in row.note
    assert "citizen@example.com" not in row.note
    assert row.photos == [] and [e.type for e in row.events] == ["created"]
    # Not public until the desk accepts it.
    assert client.get(f"/open311/v2/requests/{row.uuid}.json").status_code == 404


def test_post_resend_returns_the_same_request(client, city, partner):
    _, key = partner
    form = dict(api_key=key, service_code="litter", lat="36.4561", long="115.9851", description="散落垃圾")
    first = post(client, **form)
    again = post(client, **form)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()[0]["service_request_id"] == again.get_json()[0]["service_request_id"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Finding)) == 1
    other = post(client, **{**form, "description": "另一处散落垃圾"})
    assert other.status_code == 201
    assert other.get_json()[0]["service_request_id"] != first.get_json()[0]["service_request_id"]


def test_post_by_address_and_by_bearer_header_in_xml(client, city, partner):
    _, key = partner
    response = client.post("/open311/v2/requests.xml", headers={"Authorization": f"Bearer {key}"},
                           data={"service_code": "flyposting", "address_string": "聊城市柳园街道文苑社区某楼道",
                                 "description": "楼道小广告"})
    assert response.status_code == 201 and response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    rid = root.find("request/service_request_id").text
    row = db.session.scalar(db.select(Finding).where(Finding.uuid == rid))
    assert row.community_id == city["wenyuan"].id and row.latitude is None


@pytest.mark.parametrize("form, status, fragment", [
    ({"service_code": "litter", "lat": "36.456", "long": "115.985"}, 403, "api_key"),
    ({"api_key": "xc_wrong", "service_code": "litter", "lat": "36.456", "long": "115.985"}, 403, "api_key"),
    ({"service_code": "", "lat": "36.456", "long": "115.985"}, 400, "service_code"),
    ({"service_code": "no_such_code", "lat": "36.456", "long": "115.985"}, 400, "no_such_code"),
    ({"service_code": "litter"}, 400, "address_string"),
    ({"service_code": "litter", "lat": "north", "long": "115.985"}, 400, "lat"),
    ({"service_code": "litter", "lat": "31.2304", "long": "121.4737"}, 400, "辖区"),  # Shanghai: not ours
    ({"service_code": "litter", "address_string": "某市某区某路"}, 400, "辖区"),
    ({"service_code": "litter", "lat": "36.456", "long": "115.985", "description": "长" * 1501}, 400, "1500"),
])
def test_post_errors_are_the_specs_list(client, city, partner, form, status, fragment):
    _, key = partner
    if "api_key" not in form and status != 403:
        form = {**form, "api_key": key}
    response = post(client, **form)
    assert response.status_code == status, response.get_data(as_text=True)
    [error] = response.get_json()
    assert error["code"] == status and fragment in error["description"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Finding)) == 0


def test_partner_text_limits_fit_the_note():
    from webapp.services.findings import NOTE_MAX
    from webapp.services.open311 import MAX_LENGTHS

    labels = len("地址:") + len("照片链接:") + 2  # two line breaks
    assert sum(MAX_LENGTHS.values()) + labels <= NOTE_MAX


def test_post_needs_a_submitting_role(client, city):
    from webapp.auth.tokens import issue_token

    viewer = make_user("leader-api", roles=("leader",))
    key = issue_token(viewer, "read only")
    db.session.commit()
    response = post(client, api_key=key, service_code="litter", lat="36.456", long="115.985")
    assert response.status_code == 403 and "督导员" in response.get_json()[0]["description"]


def test_post_ignores_the_session_cookie(app, client, auth, city):
    """No CSRF token is needed because a logged-in browser session is not an api_key."""
    auth.login("insp")
    response = post(client, service_code="litter", lat="36.456", long="115.985")
    assert response.status_code == 403


@pytest.mark.slow
def test_a_partner_talks_to_a_live_server(app, city, partner, tmp_path, database_url):
    """A plain HTTP client against gunicorn: discover, list services, submit, then see it once accepted."""
    import hashlib

    import requests

    from tests.live_server import start_server
    from tests.s3_support import server_env

    _, key = partner
    finding(city, "dispatched", note="早市占道", party_kind="market", party_site=city["erzhong"])
    row = finding(city, "accepted")
    db.session.commit()
    view_sha = _attach_photo(city, row)
    row_uuid = row.uuid
    # End this process's transaction: on SQLite an open one would hold the write lock the server needs.
    db.session.close()
    server = start_server(tmp_path, database_url, app.config["UPLOAD_DIR"], **server_env(app.config))
    try:
        base = server.url + "/open311/v2"
        discovery = requests.get(f"{base}/discovery.json", timeout=10).json()
        assert discovery["endpoints"][0]["url"] == base
        services = requests.get(f"{base}/services.xml", timeout=10)
        assert services.headers["Content-Type"].startswith("text/xml")
        assert ET.fromstring(services.content).find("service/service_code") is not None
        listed_now = requests.get(f"{base}/requests.json", params={"status": "open"}, timeout=10).json()
        assert len(listed_now) == 2 and all(tuple(r) == REQUEST_FIELDS for r in listed_now)
        with_photo = next(r for r in listed_now if r["service_request_id"] == row_uuid)
        assert with_photo["media_url"].startswith(base + "/media/")
        photo = requests.get(with_photo["media_url"], timeout=10)
        assert photo.status_code == 200 and hashlib.sha256(photo.content).hexdigest() == view_sha
        created = requests.post(f"{base}/requests.json", timeout=10, data={
            "api_key": key, "service_code": "poultry_open", "lat": "36.4561", "long": "115.9849",
            "description": "活禽区未密闭"})
        assert created.status_code == 201, created.text
        rid = created.json()[0]["service_request_id"]
        assert requests.get(f"{base}/requests/{rid}.json", timeout=10).status_code == 404
        db.session.scalar(db.select(Finding).where(Finding.uuid == rid)).status = "accepted"
        db.session.commit()
        db.session.close()
        [shown] = requests.get(f"{base}/requests/{rid}.json", timeout=10).json()
        assert shown["service_code"] == "poultry_open" and shown["status"] == "open"
        assert shown["description"] == "活禽区未密闭"
    finally:
        server.stop()
