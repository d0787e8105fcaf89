"""PUT/GET /api/v1/findings: creation with photos in one transaction, idempotency, per-field 422s,
scoped reads, keyset listing, and the watermark burned into attached photos' views."""
from __future__ import annotations

import io
import threading
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image, ImageStat
from sqlalchemy import func, select

from tests.api_support import Api, fast_user, jpeg, new_uuid, token_client
from tests.factories import category, make_community, make_site, make_street
from webapp.extensions import db
from webapp.models import Event, Finding, Photo

CST = timezone(timedelta(hours=8))


@pytest.fixture
def world(app):
    """柳园街道 with 文苑社区 (湖西早市 with zones) and 公园社区 (新嘉园小区); an inspector."""
    with app.app_context():
        street = make_street("柳园街道")
        wenyuan = make_community(street, "文苑社区")
        gongyuan = make_community(street, "公园社区")
        market = make_site(wenyuan, "湖西早市", kind="market", zones=("果蔬区", "活禽区"))
        estate = make_site(gongyuan, "新嘉园小区")
        category("litter")
        category("poultry_open")
        fast_user("insp")
        fast_user("insp2")
        db.session.commit()
        return {"wenyuan": wenyuan.id, "gongyuan": gongyuan.id, "market": market.id, "estate": estate.id,
                "zone": market.zones[1].id, "other_zone": None}


@pytest.fixture
def insp(app, world, openapi_checker):
    return token_client(app, openapi_checker, "insp")


def login_as(app, checker, username: str, roles=None) -> Api:
    if roles:
        with app.app_context():
            fast_user(username, roles=roles)
            db.session.commit()
    return token_client(app, checker, username)


def upload(api: Api, n: int = 1, size=(800, 600)) -> list[str]:
    ids = []
    for _ in range(n):
        pid = new_uuid()
        assert api.put_photo(pid, jpeg(size)).status_code == 201
        ids.append(pid)
    return ids


def payload(world, photo_ids, **over):
    body = {
        "kind": "problem",
        "captured_at": datetime.now(CST).replace(microsecond=0).isoformat(),
        "community_id": world["wenyuan"],
        "site_id": world["market"],
        "zone_id": world["zone"],
        "category_code": "poultry_open",
        "note": "活禽区门帘未放下",
        "location": {"lat": 36.4567, "lon": 115.9853, "accuracy_m": 12.5},
        "photo_ids": photo_ids,
    }
    body.update(over)
    return body


def test_create_problem_with_photos(app, insp, world):
    photos = upload(insp, 2)
    fid = new_uuid()
    body = payload(world, photos)
    response = insp.put_json(f"/api/v1/findings/{fid}", body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["id"] == fid and data["status"] == "submitted" and data["version"] == 1
    assert data["captured_at"] == body["captured_at"]  # the device's offset is kept
    assert [p["id"] for p in data["photos"]] == photos
    assert all(p["kind"] == "before" for p in data["photos"])
    assert data["category_code"] == "poultry_open" and data["zone_id"] == world["zone"]
    assert data["location"] == {"lat": 36.4567, "lon": 115.9853, "accuracy_m": 12.5}
    with app.app_context():
        finding = db.session.scalar(select(Finding).where(Finding.uuid == fid))
        assert finding.captured_offset_min == 480
        assert [e.type for e in finding.events] == ["created"]
        assert finding.events[0].to_status == "submitted"
        assert [p.position for p in finding.photos] == [0, 1]


def test_identical_resend_is_200_and_reformatted_json_is_still_identical(app, insp, world):
    photos = upload(insp)
    fid = new_uuid()
    body = payload(world, photos, location={"lat": 36.5, "lon": 116, "accuracy_m": 10})
    first = insp.put_json(f"/api/v1/findings/{fid}", body)
    assert first.status_code == 201
    same = dict(reversed(list(body.items())))
    same["location"] = {"accuracy_m": 10.0, "lon": 116.0, "lat": 36.5}
    again = insp.put_json(f"/api/v1/findings/{fid}", same)
    assert again.status_code == 200
    assert again.get_json()["id"] == fid
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Finding)) == 1
        assert db.session.scalar(select(func.count()).select_from(Event)) == 1


def test_resend_with_different_content_is_409(insp, world):
    photos = upload(insp)
    fid = new_uuid()
    assert insp.put_json(f"/api/v1/findings/{fid}", payload(world, photos)).status_code == 201
    response = insp.put_json(f"/api/v1/findings/{fid}", payload(world, photos, note="不同的备注"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "finding_conflict"


def test_ok_record_without_photos(insp, world):
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(
        world, [], kind="ok", category_code=None, zone_id=None, note=""))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "ok"
    assert response.get_json()["photos"] == []


def _retire(app, model, ident):
    with app.app_context():
        db.session.get(model, ident).retired_at = datetime.now(timezone.utc)
        db.session.commit()


@pytest.mark.parametrize("change, field", [
    ({"community_id": 999999}, "community_id"),
    ({"site_id": "estate"}, "site_id"),  # 新嘉园小区 is in 公园社区, not 文苑社区
    ({"site_id": None}, "zone_id"),  # a zone without its site
    ({"category_code": "no_such_thing"}, "category_code"),
    ({"category_code": None}, "category_code"),
    ({"photo_ids": []}, "photo_ids"),
    ({"captured_at": "future"}, "captured_at"),
    ({"captured_at": "1970-01-01T08:00:00+08:00"}, "captured_at"),
    ({"captured_at": "2026-11-20T09:00:00"}, "captured_at"),  # no offset
    ({"captured_at": "yesterday"}, "captured_at"),
    ({"location": {"lat": 91, "lon": 116}}, "location.lat"),
    ({"location": {"lat": 36, "lon": -181}}, "location.lon"),
    ({"location": {"lat": 36, "lon": 116, "accuracy_m": -1}}, "location.accuracy_m"),
    ({"note": "脏" * 2001}, "note"),
    ({"kind": "complaint"}, "kind"),
    ({"community_id": "1"}, "community_id"),
    ({"photo_ids": ["not-a-uuid"]}, "photo_ids"),
    ({"surprise": 1}, "_unknown"),
])
def test_invalid_fields_are_422(insp, world, change, field):
    photos = upload(insp)
    change = dict(change)
    if change.get("site_id") == "estate":
        change["site_id"] = world["estate"]
    if change.get("captured_at") == "future":
        change["captured_at"] = (datetime.now(CST) + timedelta(minutes=15)).isoformat()
    photo_ids = change.pop("photo_ids", photos)
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, photo_ids, **change))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]


def test_zone_of_another_site_is_422(app, insp, world):
    with app.app_context():
        other_market = make_site(db.session.get(__import__("webapp.models", fromlist=["Community"]).Community,
                                                world["wenyuan"]), "东关市场", kind="market", zones=("水产品区",))
        db.session.commit()
        foreign_zone = other_market.zones[0].id
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, upload(insp), zone_id=foreign_zone))
    assert response.status_code == 422
    assert "zone_id" in response.get_json()["error"]["fields"]


def test_retired_community_and_category_are_422(app, insp, world):
    from webapp.models import Category, Community

    _retire(app, Community, world["gongyuan"])
    with app.app_context():
        litter = db.session.scalar(select(Category.id).where(Category.code == "litter"))
    _retire(app, Category, litter)
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(
        world, upload(insp), community_id=world["gongyuan"], site_id=None, zone_id=None, category_code="litter"))
    fields = response.get_json()["error"]["fields"]
    assert response.status_code == 422
    assert "community_id" in fields and "category_code" in fields


def test_missing_photos_are_listed(insp, world):
    uploaded = upload(insp)
    missing = [new_uuid(), new_uuid()]
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, uploaded + missing))
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert fields["missing_photo_ids"] == missing
    assert "photo_ids" in fields


def test_photo_of_another_inspector_is_422(app, insp, world, openapi_checker):
    other = login_as(app, openapi_checker, "insp2")
    theirs = upload(other)
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, theirs))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["foreign_photo_ids"] == theirs


def test_photo_already_attached_elsewhere_is_422(insp, world):
    photos = upload(insp)
    assert insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, photos)).status_code == 201
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, photos))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["attached_photo_ids"] == photos


def test_failed_create_changes_nothing(app, insp, world):
    photos = upload(insp)
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, photos + [new_uuid()]))
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Finding)) == 0
        assert db.session.scalar(select(Photo.finding_id).where(Photo.uuid == photos[0])) is None


@pytest.mark.parametrize("path_uuid", ["nope", "123"])
def test_invalid_finding_uuid_is_400(insp, world, path_uuid):
    response = insp.put_json(f"/api/v1/findings/{path_uuid}", payload(world, upload(insp)))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_uuid"


def test_body_that_is_not_a_json_object_is_400(insp, world):
    response = insp.request("PUT", f"/api/v1/findings/{new_uuid()}", data="{not json", content_type="application/json")
    assert response.status_code == 400
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", [1, 2])
    assert response.status_code == 400


def test_only_inspectors_create_findings(app, world, openapi_checker):
    desk = login_as(app, openapi_checker, "desk1", ("desk",))
    response = desk.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, []))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_session_endpoint(app, api, world):
    """The browser's way in: session cookie, then the CSRF token for writes."""
    assert api.get("/api/v1/session").status_code == 401
    body = api.login("insp")
    assert body["user"]["username"] == "insp" and body["user"]["roles"] == ["inspector"]
    assert body["csrf_token"]


def test_get_finding_with_events_is_scoped(app, insp, world, openapi_checker):
    fid = new_uuid()
    insp.put_json(f"/api/v1/findings/{fid}", payload(world, upload(insp)))
    mine = insp.get(f"/api/v1/findings/{fid}")
    assert mine.status_code == 200
    assert [e["type"] for e in mine.get_json()["events"]] == ["created"]
    assert mine.get_json()["events"][0]["actor"] == "insp"
    other = login_as(app, openapi_checker, "insp2")
    assert other.get(f"/api/v1/findings/{fid}").status_code == 404
    assert other.get(f"/api/v1/findings/{new_uuid()}").status_code == 404
    assert other.get("/api/v1/findings/not-a-uuid").status_code == 404
    desk = login_as(app, openapi_checker, "desk1", ("desk",))
    assert desk.get(f"/api/v1/findings/{fid}").status_code == 200
    # The photos follow the finding's visibility.
    view_url = mine.get_json()["photos"][0]["view_url"]
    assert desk.get(view_url).status_code == 200
    assert other.get(view_url).status_code == 404


def test_list_mine_newest_first_with_keyset_pages_and_since(app, insp, world, openapi_checker):
    created = []
    for _ in range(5):
        fid = new_uuid()
        assert insp.put_json(f"/api/v1/findings/{fid}", payload(world, upload(insp, size=(64, 48)))).status_code == 201
        created.append(fid)
    other = login_as(app, openapi_checker, "insp2")
    other.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, upload(other, size=(64, 48))))

    seen, cursor = [], None
    while True:
        url = "/api/v1/findings?mine=1&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = insp.get(url).get_json()
        seen += [f["id"] for f in page["findings"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == list(reversed(created))

    with app.app_context():
        pivot = db.session.scalar(select(Finding.updated_at).where(Finding.uuid == created[3]))
    since = pivot.isoformat().replace("+00:00", "Z")
    recent = insp.get(f"/api/v1/findings?mine=1&since={since}").get_json()
    assert [f["id"] for f in recent["findings"]] == [created[4], created[3]]
    assert recent["server_time"]


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "since=notadate", "cursor=%%%"])
def test_list_bad_parameters_are_400(insp, world, query):
    assert insp.get(f"/api/v1/findings?mine=1&{query}").status_code == 400


def served(api, url) -> Image.Image:
    response = api.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.data)).convert("RGB")


def test_attached_view_is_watermarked_and_master_stays_clean(app, insp, world):
    from tests.api_support import encode

    flat = encode(Image.new("RGB", (1280, 960), (235, 235, 235)), "JPEG", quality=95)
    pid = new_uuid()
    upload_body = insp.put_photo(pid, flat).get_json()
    clean_view = served(insp, upload_body["view_url"])
    finding = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, [pid])).get_json()
    photo = finding["photos"][0]
    assert photo["view_url"] != upload_body["view_url"]  # new content, new URL (immutable caching)
    assert photo["thumb_url"] == upload_body["thumb_url"]
    marked = served(insp, photo["view_url"])
    assert marked.size == clean_view.size
    # The bottom-left panel is dark on this light photo; the top-right corner is untouched.
    w, h = marked.size
    panel = ImageStat.Stat(marked.crop((int(w * 0.03), int(h * 0.85), int(w * 0.2), int(h * 0.95)))).mean
    corner = ImageStat.Stat(marked.crop((int(w * 0.8), 0, w, int(h * 0.1)))).mean
    assert sum(panel) / 3 < 170 and sum(corner) / 3 > 220
    master = served(insp, photo["view_url"].split("?")[0].replace("/view", "/master"))
    assert sum(ImageStat.Stat(master.crop((20, int(h * 0.85), 200, int(h * 0.95)))).mean) / 3 > 220
    assert len(Image.open(io.BytesIO(insp.get(photo["view_url"]).data)).getexif()) == 0


def test_concurrent_identical_finding_puts_create_one_row(app, world, openapi_checker, api):
    first = api
    first.login("insp")  # session + CSRF clients, like four tabs of the PWA
    photos = upload(first, 2)
    fid = new_uuid()
    body = payload(world, photos)
    clients = [first]
    for _ in range(3):
        tab = Api(app, app.test_client(), openapi_checker)
        tab.login("insp")
        clients.append(tab)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(client):
        barrier.wait()
        statuses.append(client.put_json(f"/api/v1/findings/{fid}", body).status_code)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Finding)) == 1
        assert db.session.scalar(select(func.count()).select_from(Event)) == 1
        finding_id = db.session.scalar(select(Finding.id))
        assert set(db.session.scalars(select(Photo.finding_id))) == {finding_id}


@pytest.mark.parametrize("change, field", [
    ({"note": "店外\u0000摆放"}, "note"),  # PostgreSQL cannot store NUL
    ({"note": "店外\ud800摆放"}, "note"),  # a lone surrogate is not encodable
    ({"community_id": 2 ** 70}, "community_id"),
    ({"site_id": 2 ** 31}, "site_id"),
    ({"captured_at": "0001-01-01T00:00:00+08:00"}, "captured_at"),  # overflows when moved to UTC
    ({"category_code": {"$ne": None}}, "category_code"),
])
def test_hostile_fields_are_422_not_500(insp, world, change, field):
    response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, upload(insp, size=(64, 48)), **change))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("data, content_type, status", [
    (b"[" * 30000 + b"]" * 30000, "application/json", 400),  # nesting that would blow the recursion limit
    (b'{"note": "' + b"x" * 70000 + b'"}', "application/json", 413),
    (b'{"kind": "problem"}', "text/plain", 415),
    (b'{"community_id": 1' + b"0" * 5000 + b"}", "application/json", 400),
])
def test_malformed_bodies(app, insp, world, data, content_type, status):
    response = insp.request("PUT", f"/api/v1/findings/{new_uuid()}", data=data, content_type=content_type)
    assert response.status_code == status
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Finding)) == 0


@pytest.mark.parametrize("query", ["since=0001-01-01T00:00:00%2B08:00",
                                   "cursor=MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"])
def test_list_queries_that_would_overflow_are_400(insp, world, query):
    assert insp.get(f"/api/v1/findings?mine=1&{query}").status_code == 400


def test_a_capture_reads_nothing_back_after_its_commits(app, insp, world):
    """Both PUTs answer from what they have just written: no statement runs after a commit (each
    would read back values the request already holds, and on SQLite open a write transaction that
    keeps the lock until the request ends)."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
    log: list[str] = []

    def on_statement(conn, cursor, statement, *args):
        if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            log.append(statement.split(None, 1)[0])

    def on_commit(conn):
        log.append("COMMIT")

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        [pid] = upload(insp)
        photo_log, log[:] = list(log), []
        response = insp.put_json(f"/api/v1/findings/{new_uuid()}", payload(world, [pid]))
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    assert response.status_code == 201
    body = response.get_json()
    assert [p["id"] for p in body["photos"]] == [pid] and body["photos"][0]["kind"] == "before"
    assert "v=" in body["photos"][0]["view_url"]
    for statements in (photo_log, log):
        assert statements.count("COMMIT") == 1 and statements[-1] == "COMMIT", statements
