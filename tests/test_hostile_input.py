"""Hostile and broken input to every API write (and the reads that take ids): each gets a clear 4xx in
the API's error shape, none a 500, and nothing is left on disk or in the database."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from tests import hostile_corpus as corpus
from tests.api_support import digest, new_uuid
from tests.factories import category, make_community, make_site, make_street
from webapp.auth.tokens import issue_token
from webapp.extensions import db
from webapp.models import Photo, User
from webapp.services.backup import row_counts
from webapp.storage import get_storage, key_for

TRAVERSALS = ["..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5C..%5Cwindows%5Cwin.ini",
              "%2Fetc%2Fpasswd", "....%2F%2F....%2F%2Fetc", "%00", "a%00b", "%252e%252e%252f",
              "00000000-0000-0000-0000-000000000000%2F..%2F..", "..", "."]
BAD_UUIDS = ["not-a-uuid", "12345", "{%s}" % "0" * 8, "g" * 36, "0" * 37, "x" * 5000,
             "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "6e8bc430-9c3a-11d9-9669-0800200c9a6",
             "%E4%B8%AD%E6%96%87"]


@dataclass
class World:
    inspector_token: str
    desk_token: str
    community_id: int
    site_id: int
    spare_photo_id: str  # uploaded, not attached
    finding_id: str = ""  # with_finding only
    photo_id: str = ""  # with_finding only: attached to the finding


@pytest.fixture
def world(app, api, ctx) -> World:
    street = make_street("南关街道")
    community = make_community(street, "五一社区")
    site = make_site(community, "胜利市场", kind="market", zones=("活禽区",))
    category("litter")
    inspector, desk = token_user("insp", "inspector"), token_user("desk", "desk")
    inspector_token, desk_token = issue_token(inspector, "phone"), issue_token(desk, "desk")
    db.session.commit()
    api.token = inspector_token
    spare = new_uuid()
    assert api.put_photo(spare, corpus.small_jpeg((64, 48))).status_code == 201
    return World(inspector_token, desk_token, community.id, site.id, spare)


@pytest.fixture
def with_finding(app, api, world) -> World:
    """The world plus one finding (with its photo) for the reads and actions that need one."""
    world.photo_id, world.finding_id = new_uuid(), new_uuid()
    assert api.put_photo(world.photo_id, corpus.small_jpeg((64, 48), quality=70)).status_code == 201
    body = valid_finding(world.community_id, world.site_id, [world.photo_id])
    response = api.put_json(f"/api/v1/findings/{world.finding_id}", body)
    assert response.status_code == 201, response.get_json()
    return world


def token_user(username: str, role: str) -> User:
    """A user who only ever calls with a bearer token: no password hash to compute (keeps 180 cases fast)."""
    user = User(username=username, display_name=username, password_hash="!")
    user.set_roles([role])
    db.session.add(user)
    db.session.flush()
    return user


def valid_finding(community: int, site: int | None, photos: list[str], /, **overrides) -> dict:
    body = {"kind": "problem", "captured_at": datetime.now(timezone(timedelta(hours=8))).isoformat(),
            "community_id": community, "site_id": site, "category_code": "litter", "note": "店外摆放",
            "location": {"lat": 31.87, "lon": 117.28, "accuracy_m": 12}, "photo_ids": photos}
    body.update(overrides)
    return body


def unchecked(api, method: str, path: str, **kw):
    """For ids in the URL path: the OpenAPI checker matches the undecoded path to a template, while the
    server decodes %2F first and routes (or 404s) differently, so the schema check does not apply."""
    headers = {"Authorization": f"Bearer {api.token}", **kw.pop("headers", {})}
    return api.client.open(path, method=method, headers=headers, **kw)


def state(app) -> tuple[dict, set]:
    db.session.rollback()
    return row_counts(db.engine), set(get_storage(app).keys())


def assert_refused(app, response, before, *, allowed=range(400, 500)):
    assert response.status_code in allowed, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.get_data(as_text=True)[:300]
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"]
    assert isinstance(error.get("message"), str) and error["message"]
    assert isinstance(error.get("fields"), dict)
    counts, keys = state(app)
    assert counts == before[0], "rows were left behind"
    assert keys == before[1], f"files were left behind: {keys - before[1]}"


# --- photos ----------------------------------------------------------------------------------------

def _png_as_jpeg_type():
    return corpus.small_png(), "image/jpeg"


PHOTO_CASES = {
    "empty body": lambda: (b"", "image/jpeg"),
    "truncated jpeg": lambda: (corpus.small_jpeg()[:-4000], "image/jpeg"),
    "half a jpeg": lambda: (corpus.small_jpeg()[: len(corpus.small_jpeg()) // 2], "image/jpeg"),
    "png decompression bomb": lambda: (corpus.png_bomb(), "image/png"),
    "jpeg decompression bomb": lambda: (corpus.jpeg_bomb(), "image/jpeg"),
    "png 30000x30000 header, tiny body": lambda: (corpus.png_huge_header_tiny_body(), "image/png"),
    "jpeg 30000x30000 header, tiny body": lambda: (corpus.jpeg_with_dimensions(30000, 30000), "image/jpeg"),
    "jpeg 0x0 header": lambda: (corpus.jpeg_with_dimensions(0, 0), "image/jpeg"),
    "gif/jpeg polyglot as jpeg": lambda: (corpus.gif_jpeg_polyglot(), "image/jpeg"),
    "gif as gif": lambda: (corpus.small_gif(), "image/gif"),
    "html with script as jpeg": lambda: (corpus.HTML_SCRIPT, "image/jpeg"),
    "svg with script as jpeg": lambda: (corpus.SVG_SCRIPT, "image/jpeg"),
    "svg with script as svg": lambda: (corpus.SVG_SCRIPT, "image/svg+xml"),
    "png under image/jpeg": _png_as_jpeg_type,
    "jpeg under image/png": lambda: (corpus.small_jpeg(), "image/png"),
    "jpeg under text/html": lambda: (corpus.small_jpeg(), "text/html"),
    "jpeg under application/octet-stream": lambda: (corpus.small_jpeg(), "application/octet-stream"),
    "jpeg without content type": lambda: (corpus.small_jpeg(), ""),
    "random bytes": lambda: (bytes(range(256)) * 64, "image/jpeg"),
}


@pytest.mark.parametrize("name", list(PHOTO_CASES))
def test_bad_photo_uploads_are_refused_cleanly(app, api, world, name):
    data, content_type = PHOTO_CASES[name]()
    before = state(app)
    response = api.put_photo(new_uuid(), data, content_type)
    assert_refused(app, response, before)


@pytest.mark.parametrize("header", [
    "sha-256=:" + "A" * 44 + ":",              # well-formed, wrong
    None,                                      # missing
    "sha-256=:not base64!:",                   # malformed
    "md5=:1B2M2Y8AsgTpgAmY7PhCfg==:",          # an algorithm we do not accept
    "sha-256=" + "a" * 64,                     # hex instead of a byte sequence
    "sha-256=:" + "A" * 100_00 + ":",          # very long
])
def test_jpeg_with_a_wrong_or_missing_digest_is_refused(app, api, world, header):
    before = state(app)
    response = api.put_photo(new_uuid(), corpus.small_jpeg(), digest_header=header)
    assert_refused(app, response, before, allowed=(400,))


def test_digest_of_other_bytes_is_refused(app, api, world):
    before = state(app)
    response = api.put_photo(new_uuid(), corpus.small_jpeg(), digest_header=digest(corpus.small_jpeg((64, 64))))
    assert_refused(app, response, before, allowed=(400,))
    assert response.get_json()["error"]["code"] == "digest_mismatch"


def test_body_over_the_limit_is_refused_before_it_is_read(app, api, world):
    before = state(app)
    big = b"\xff\xd8" + b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = api.put_photo(new_uuid(), big, "image/jpeg")
    assert_refused(app, response, before, allowed=(413,))


def test_absurd_exif_is_ignored_not_trusted(app, api, world):
    """Rejecting a photo for its camera's metadata would lose evidence: the values are dropped instead
    (no 500, no EXIF in any stored file, no capture time taken from it)."""
    before = state(app)
    response = api.put_photo(new_uuid(), corpus.jpeg_with_absurd_exif(), "image/jpeg")
    if response.status_code != 201:
        assert_refused(app, response, before)
        return
    store = get_storage(app)
    for key in set(store.keys()) - before[1]:
        img = Image.open(io.BytesIO(store.read(key)))
        assert not img.getexif(), key
    photo = db.session.query(Photo).filter_by(uuid=response.get_json()["id"]).one()
    assert photo.taken_at is None


def test_script_after_a_jpeg_never_reaches_the_store(app, api, world):
    """A JPEG with a GIF and a script after its end marker decodes as a JPEG; re-encoding drops the tail."""
    before = state(app)
    response = api.put_photo(new_uuid(), corpus.jpeg_gif_polyglot(), "image/jpeg")
    assert response.status_code in (201, 400, 415), response.get_data(as_text=True)
    store = get_storage(app)
    for key in set(store.keys()) - before[1]:
        data = store.read(key)
        assert b"<script" not in data and b"GIF8" not in data


@pytest.mark.parametrize("photo_id", TRAVERSALS + BAD_UUIDS)
def test_photo_ids_that_are_not_uuids(app, api, world, photo_id):
    before = state(app)
    data = corpus.small_jpeg()
    response = unchecked(api, "PUT", f"/api/v1/photos/{photo_id}", data=data, content_type="image/jpeg",
                         headers={"Content-Digest": digest(data)})
    assert_refused(app, response, before)
    for variant in ("view", "master", "..%2F..%2Fetc%2Fpasswd"):
        response = unchecked(api, "GET", f"/api/v1/photos/{photo_id}/{variant}")
        assert_refused(app, response, before, allowed=(400, 404))


@pytest.mark.parametrize("variant", ["..%2F..%2F..%2Fetc%2Fpasswd", "..", "%00", "master.jpg", "VIEW", "x" * 300])
def test_photo_variants_that_do_not_exist(app, api, with_finding, variant):
    world = with_finding
    before = state(app)
    response = unchecked(api, "GET", f"/api/v1/photos/{world.photo_id}/{variant}")
    assert_refused(app, response, before, allowed=(400, 404))


# --- findings ----------------------------------------------------------------------------------------

def nest(depth: int) -> str:
    return "[" * depth + "]" * depth


RAW_BODY_CASES = {
    "empty body": (b"", "application/json"),
    "not json": (b"{kind: problem", "application/json"),
    "json array": (b"[]", "application/json"),
    "json string": (b'"problem"', "application/json"),
    "json null": (b"null", "application/json"),
    "deep nesting (100000)": (('{"note": ' + nest(100_000) + "}").encode(), "application/json"),
    "deep nesting of objects": (('{"a":' * 50_000 + "1" + "}" * 50_000).encode(), "application/json"),
    "invalid utf-8": (b'{"kind": "problem", "note": "\xff\xfe\xc3\x28"}', "application/json"),
    "utf-16 body": ('{"kind": "problem"}'.encode("utf-16"), "application/json"),
    "json as text/plain": (b'{"kind": "problem"}', "text/plain"),
    "json as form": (b"kind=problem", "application/x-www-form-urlencoded"),
    "NaN literal": (b'{"kind": "problem", "location": {"lat": NaN, "lon": Infinity}}', "application/json"),
    "huge number literal": (b'{"kind": "problem", "community_id": 1' + b"0" * 5000 + b"}", "application/json"),
}


@pytest.mark.parametrize("name", list(RAW_BODY_CASES))
def test_malformed_finding_bodies(app, api, world, name):
    data, content_type = RAW_BODY_CASES[name]
    before = state(app)
    response = api.request("PUT", f"/api/v1/findings/{new_uuid()}", data=data, content_type=content_type)
    assert_refused(app, response, before)


def test_huge_json_body_is_refused(app, api, world):
    before = state(app)
    body = json.dumps(valid_finding(world.community_id, world.site_id, [world.spare_photo_id],
                                    note="脏" * (app.config["MAX_CONTENT_LENGTH"] // 3 + 10))).encode()
    response = api.request("PUT", f"/api/v1/findings/{new_uuid()}", data=body, content_type="application/json")
    assert_refused(app, response, before, allowed=(413,))


def test_huge_action_body_is_refused(app, api, with_finding):
    before = state(app)
    body = json.dumps({"type": "verify", "note": "清" * (app.config["MAX_CONTENT_LENGTH"] // 3 + 10)}).encode()
    response = api.request("PUT", f"/api/v1/findings/{with_finding.finding_id}/actions/{new_uuid()}",
                           data=body, content_type="application/json")
    assert_refused(app, response, before, allowed=(413,))


def _now_plus(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


FIELD_CASES = {
    "10,000-character note": {"note": "垃" * 10_000},
    "note is a number": {"note": 12},
    "note with NUL": {"note": "店外\u0000摆放"},
    "note with a lone surrogate": {"note": "店外\ud800摆放"},
    "captured in 1970": {"captured_at": "1970-01-01T00:00:00Z"},
    "captured in 2100": {"captured_at": "2100-01-01T08:00:00+08:00"},
    "captured an hour ahead": "an hour ahead",
    "captured without zone": {"captured_at": "2026-11-26T10:00:00"},
    "captured year 0": {"captured_at": "0000-01-01T00:00:00Z"},
    "captured nonsense": {"captured_at": "昨天下午"},
    "captured as number": {"captured_at": 1764000000},
    "captured with absurd offset": {"captured_at": "2026-11-26T10:00:00+99:00"},
    "latitude 91": {"location": {"lat": 91, "lon": 117}},
    "longitude -181": {"location": {"lat": 31, "lon": -181}},
    "latitude 1e308": {"location": {"lat": 1e308, "lon": 117}},
    "coordinates as strings": {"location": {"lat": "31.8", "lon": "117.2"}},
    "negative accuracy": {"location": {"lat": 31, "lon": 117, "accuracy_m": -5}},
    "location is a list": {"location": [31, 117]},
    "community id 2**70": {"community_id": 2 ** 70},
    "community id negative": {"community_id": -1},
    "community id true": {"community_id": True},
    "community id string": {"community_id": "1"},
    "community id float": {"community_id": 1.5},
    "site id 2**63": {"site_id": 2 ** 63},
    "zone id without site": {"site_id": None, "zone_id": 1},
    "unknown community": {"community_id": 987654},
    "category traversal": {"category_code": "../../../etc/passwd"},
    "category unknown": {"category_code": "not_a_category"},
    "category is a dict": {"category_code": {"$ne": None}},
    "kind unknown": {"kind": "<script>alert(1)</script>"},
    "photo id traversal": {"photo_ids": ["../../../etc/passwd"]},
    "photo id not uuid": {"photo_ids": ["not-a-uuid"]},
    "photo ids not a list": {"photo_ids": "6e8bc430-9c3a-11d9-9669-0800200c9a66"},
    "photo id never uploaded": {"photo_ids": [new_uuid()]},
    "photo already attached": "attached",
    "ten photos": {"photo_ids": [new_uuid() for _ in range(10)]},
    "same photo twice": "twice",
    "unknown field": {"inspector_id": 1},
    "status injection": {"status": "verified"},
}


@pytest.mark.parametrize("name", list(FIELD_CASES))
def test_bad_finding_fields(app, api, world, name, request):
    change = FIELD_CASES[name]
    if change == "attached":
        change = {"photo_ids": [request.getfixturevalue("with_finding").photo_id]}
    elif change == "twice":
        change = {"photo_ids": [world.spare_photo_id, world.spare_photo_id]}
    elif change == "an hour ahead":
        # Taken when the test runs, not when the module is collected: the suite may run long after that.
        change = {"captured_at": _now_plus(hours=1)}
    body = valid_finding(world.community_id, world.site_id, [world.spare_photo_id], **change)
    before = state(app)
    response = api.put_json(f"/api/v1/findings/{new_uuid()}", body)
    assert_refused(app, response, before)


@pytest.mark.parametrize("finding_id", TRAVERSALS + BAD_UUIDS)
def test_finding_ids_that_are_not_uuids(app, api, world, finding_id):
    before = state(app)
    body = valid_finding(world.community_id, world.site_id, [world.spare_photo_id])
    assert_refused(app, unchecked(api, "PUT", f"/api/v1/findings/{finding_id}", json=body), before)
    assert_refused(app, unchecked(api, "GET", f"/api/v1/findings/{finding_id}"), before, allowed=(400, 404))
    action = {"type": "verify"}
    response = unchecked(api, "PUT", f"/api/v1/findings/{finding_id}/actions/{new_uuid()}", json=action)
    assert_refused(app, response, before)


@pytest.mark.parametrize("query", [
    "limit=0", "limit=-1", "limit=1e3", "limit=99999999999999999999", "limit=abc",
    "since=1970-13-45", "since=%00", "since=" + "9" * 500,
    "cursor=%%%", "cursor=" + "A" * 10_000, "cursor=MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
    "cursor=bm90IGEgY3Vyc29y",
])
def test_bad_list_queries(app, api, world, query):
    before = state(app)
    response = api.get(f"/api/v1/findings?{query}")
    assert_refused(app, response, before, allowed=(400, 422))


# --- actions ----------------------------------------------------------------------------------------

ACTION_CASES = {
    "not an object": [],
    "unknown type": {"type": "delete"},
    "type missing": {"note": "x"},
    "10,000-character note": {"type": "verify", "note": "清" * 10_000},
    "note with NUL": {"type": "reopen", "reason": "other", "note": "没\u0000整改"},
    "lone surrogate": {"type": "reopen", "reason": "other", "note": "没\ud800整改"},
    "captured in 2100": {"type": "verify", "captured_at": "2100-01-01T00:00:00Z"},
    "captured nonsense": {"type": "verify", "captured_at": "明天"},
    "latitude 91": {"type": "verify", "location": {"lat": 91, "lon": 117}},
    "infinite accuracy": {"type": "verify", "location": {"lat": 31, "lon": 117, "accuracy_m": 1e999}},
    "NaN latitude": {"type": "verify", "location": {"lat": float("nan"), "lon": 117}},
    "location a string": {"type": "verify", "location": "合肥"},
    "expected_version 2**70 as string": {"type": "verify", "expected_version": str(2 ** 70)},
    "expected_version zero": {"type": "verify", "expected_version": 0},
    "photo id traversal": {"type": "rectify", "note": "已清理", "photo_ids": ["../../../etc/passwd"]},
    "duplicate_of traversal": {"type": "duplicate", "duplicate_of": "../../etc/passwd"},
    "party id 2**70": {"type": "dispatch", "party": {"kind": "community", "id": 2 ** 70}},
    "reclassify community 2**70": {"type": "reclassify", "community_id": 2 ** 70},
    "reclassify community 2**70 as string": {"type": "reclassify", "community_id": str(2 ** 70)},
    "reclassify site 2**63": {"type": "reclassify", "site_id": 2 ** 63},
    "reclassify category traversal": {"type": "reclassify", "category_code": "../../x"},
}

DESK_ACTIONS = {"party id 2**70", "reclassify community 2**70", "reclassify community 2**70 as string",
                "reclassify site 2**63", "reclassify category traversal", "duplicate_of traversal"}


@pytest.mark.parametrize("name", list(ACTION_CASES))
def test_bad_actions(app, api, with_finding, name):
    world = with_finding
    if name in DESK_ACTIONS:
        api.token = world.desk_token
    before = state(app)
    response = api.put_json(f"/api/v1/findings/{world.finding_id}/actions/{new_uuid()}", ACTION_CASES[name])
    assert_refused(app, response, before)


@pytest.mark.parametrize("action_id", TRAVERSALS + BAD_UUIDS)
def test_action_ids_that_are_not_uuids(app, api, with_finding, action_id):
    world = with_finding
    api.token = world.desk_token
    before = state(app)
    response = unchecked(api, "PUT", f"/api/v1/findings/{world.finding_id}/actions/{action_id}",
                         json={"type": "accept"})
    assert_refused(app, response, before)


# --- NUL and friends outside JSON: forms, query strings, paths -----------------------------------------

def test_nul_in_a_form_field_is_refused_not_a_database_error(app, client, ctx):
    from tests.conftest import csrf_from
    page = client.get("/login")
    before = state(app)
    response = client.post("/login", data={"username": "insp\x00' OR 1=1 --", "password": "x",
                                           "csrf_token": csrf_from(page.get_data(as_text=True)), "next": ""})
    assert response.status_code == 400
    assert state(app) == before


@pytest.mark.parametrize("path", ["/api/v1/findings?since=%00", "/api/v1/findings?mine=%00", "/login?next=%00",
                                  "/api/v1/findings/%00", "/capture/%00"])
def test_nul_in_a_query_or_path_is_refused(app, api, world, path):
    before = state(app)
    response = unchecked(api, "GET", path)
    assert response.status_code in (400, 404), response.status_code
    if path.startswith("/api/"):
        assert_refused(app, response, before, allowed=(400, 404))
