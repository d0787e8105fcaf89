"""PUT /api/v1/photos/{uuid} and GET /api/v1/photos/{uuid}/{variant}: every status code, idempotency,
upright and metadata-free served files, authorised serving."""
from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.api_support import digest, encode, jpeg, new_uuid, noisy, two_tone
from tests.factories import make_user
from webapp.extensions import db
from webapp.models import Photo


@pytest.fixture
def inspector(app):
    # Data is made in a short app context: a context held open during requests would share flask.g
    # (the logged-in user, the CSRF token) between the test clients.
    with app.app_context():
        user = make_user("insp", roles=("inspector",))
        db.session.commit()
        return user.id


def add_user(app, username: str, roles=("inspector",)) -> None:
    with app.app_context():
        make_user(username, roles=roles)
        db.session.commit()


def other_client(app, api, username: str, roles=("inspector",)):
    add_user(app, username, roles)
    other = type(api)(app, app.test_client(), api.checker)
    other.login(username)
    return other


@pytest.fixture
def logged_in(api, inspector):
    api.login("insp")
    return api


def photo_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Photo))


def test_upload_creates_then_resend_is_200_with_same_body(logged_in):
    data = jpeg((800, 600))
    pid = new_uuid()
    first = logged_in.put_photo(pid, data)
    assert first.status_code == 201
    body = first.get_json()
    assert body["id"] == pid
    assert body["sha256"] == __import__("hashlib").sha256(data).hexdigest()
    assert body["byte_size"] == len(data)
    assert (body["width"], body["height"]) == (800, 600)
    again = logged_in.put_photo(pid, data)
    assert again.status_code == 200
    assert again.get_json() == body
    assert photo_count(logged_in.app) == 1


def test_same_uuid_different_bytes_is_409(logged_in):
    pid = new_uuid()
    assert logged_in.put_photo(pid, jpeg()).status_code == 201
    response = logged_in.put_photo(pid, jpeg())
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "photo_conflict"


def test_same_uuid_by_another_user_is_409(app, api, logged_in):
    data = jpeg()
    pid = new_uuid()
    assert logged_in.put_photo(pid, data).status_code == 201
    assert other_client(app, api, "other").put_photo(pid, data).status_code == 409


@pytest.mark.parametrize("header, code", [
    (None, "digest_required"),
    ("md5=:AAAA:", "digest_required"),
    ("sha-256=:not base64!:", "digest_malformed"),
])
def test_missing_or_unusable_digest_is_400(logged_in, header, code):
    response = logged_in.put_photo(new_uuid(), jpeg(), digest_header=header)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert photo_count(logged_in.app) == 0


def test_truncated_upload_fails_digest_and_is_not_stored(logged_in):
    data = jpeg()
    response = logged_in.put_photo(new_uuid(), data[: len(data) // 2], digest_header=digest(data))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "digest_mismatch"
    assert photo_count(logged_in.app) == 0


def test_sha512_digest_is_accepted_too(logged_in):
    data = jpeg()
    assert logged_in.put_photo(new_uuid(), data, digest_header=digest(data, "sha-512")).status_code == 201


def test_corrupt_jpeg_with_matching_digest_is_400(logged_in):
    data = jpeg((1200, 900))
    cut = data[: len(data) * 2 // 3]  # the phone really sent this: digest matches, image is truncated
    response = logged_in.put_photo(new_uuid(), cut)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "corrupt_image"


def test_decompression_bomb_is_400(app, logged_in, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_IMAGE_PIXELS", 100_000)
    big = encode(Image.new("RGB", (1000, 1000), (200, 200, 200)), "PNG")
    response = logged_in.put_photo(new_uuid(), big, "image/png")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "decompression_bomb"


@pytest.mark.parametrize("content_type, maker", [
    ("image/gif", lambda: encode(noisy((64, 64)).convert("P"), "GIF")),
    ("image/jpeg", lambda: encode(noisy((64, 64)), "PNG")),  # a PNG disguised as JPEG
    ("image/png", lambda: b"<html><script>alert(1)</script></html>"),
    ("text/plain", lambda: jpeg()),
    ("image/jpeg", lambda: encode(noisy((64, 64)).convert("P"), "GIF")),
])
def test_unsupported_or_disguised_type_is_415(logged_in, content_type, maker):
    response = logged_in.put_photo(new_uuid(), maker(), content_type)
    assert response.status_code == 415
    assert photo_count(logged_in.app) == 0


def test_too_large_by_actual_length_is_413(app, logged_in, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 10_000)
    data = jpeg((800, 600))
    assert len(data) > 10_000
    assert logged_in.put_photo(new_uuid(), data).status_code == 413


def test_too_large_by_content_length_is_refused_before_reading(app, logged_in, monkeypatch):
    """A declared length over the limit is refused even though the body sent is tiny: the header is
    checked first, so a 2 GB upload is not read just to be thrown away."""
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 10_000)
    data = jpeg((32, 32))
    response = logged_in.put_photo(new_uuid(), data, environ_overrides={"CONTENT_LENGTH": "50000000"})
    assert response.status_code == 413


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345678123456781234567812345678",
                                 "{12345678-1234-5678-1234-567812345678}"])
def test_invalid_uuid_is_400(logged_in, bad):
    response = logged_in.put_photo(bad, jpeg())
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_uuid"


def test_invalid_bearer_token_is_401(api):
    api.token = "xc_not-a-real-token"
    response = api.put_photo(new_uuid(), jpeg())
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_expired_session_write_is_csrf_failed_then_session_says_401(api):
    """Without a session the CSRF check answers first (400 csrf_failed); the protocol's answer to that is
    GET /api/v1/session, which then says 401: log in again."""
    response = api.put_photo(new_uuid(), jpeg(), headers={"X-CSRFToken": "stale"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert api.get("/api/v1/session").status_code == 401


def test_session_write_without_csrf_header_is_400(logged_in):
    response = logged_in.put_photo(new_uuid(), jpeg(), headers={"X-CSRFToken": "wrong"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_bearer_token_needs_no_csrf(app, api, inspector):
    from webapp.auth.tokens import issue_token
    from webapp.models import User

    with app.app_context():
        api.token = issue_token(db.session.get(User, inspector), "script")
        db.session.commit()
    assert api.put_photo(new_uuid(), jpeg()).status_code == 201


def served(api, url: str) -> Image.Image:
    response = api.get(url)
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    return Image.open(io.BytesIO(response.data))


def test_exif_rotated_input_is_served_upright_without_metadata(logged_in):
    upright = two_tone((640, 480))
    # Stored sideways with Orientation 6, as a phone held upright writes it.
    data = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", orientation=6, gps=True,
                  taken="2026:11:20 09:15:00", quality=92)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (480, 640) and stored.getexif()[0x0112] == 6
    body = logged_in.put_photo(new_uuid(), data).get_json()
    assert (body["width"], body["height"]) == (640, 480)
    for url in (body["view_url"], body["thumb_url"], body["view_url"].replace("/view", "/master")):
        img = served(logged_in, url)
        assert img.width > img.height
        top = img.convert("RGB").getpixel((img.width // 2, img.height // 8))
        bottom = img.convert("RGB").getpixel((img.width // 2, img.height * 7 // 8))
        assert top[0] > 150 and top[2] < 100, top  # red on top
        assert bottom[2] > 150 and bottom[0] < 100, bottom
        assert len(img.getexif()) == 0
        assert "exif" not in img.info and "icc_profile" not in img.info and "comment" not in img.info


def test_photo_file_caching_headers_and_304(logged_in):
    body = logged_in.put_photo(new_uuid(), jpeg()).get_json()
    response = logged_in.get(body["thumb_url"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = logged_in.get(body["thumb_url"], headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_unattached_photo_is_visible_only_to_its_uploader(app, api, logged_in):
    body = logged_in.put_photo(new_uuid(), jpeg()).get_json()
    desk = other_client(app, api, "desk1", ("desk",))
    assert desk.get(body["view_url"]).status_code == 404
    anonymous = type(api)(app, app.test_client(), api.checker)
    assert anonymous.get(body["view_url"]).status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/photos/not-a-uuid/view", f"/api/v1/photos/{new_uuid()}/view",
                                  f"/api/v1/photos/{new_uuid()}/original"])
def test_unknown_photo_or_variant_is_404(logged_in, path):
    response = logged_in.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_photos_are_not_under_a_public_static_path(app, logged_in):
    body = logged_in.put_photo(new_uuid(), jpeg()).get_json()
    sha = body["stored_sha256"]
    for path in (f"/static/{sha}.jpg", f"/static/{sha[:2]}/{sha[2:4]}/{sha}.jpg", f"/uploads/{sha[:2]}/{sha[2:4]}/{sha}.jpg"):
        assert app.test_client().get(path).status_code == 404


def test_png_and_webp_are_accepted_and_served_as_jpeg(logged_in):
    rgba = noisy((300, 200)).convert("RGBA")
    for fmt, ctype in (("PNG", "image/png"), ("WEBP", "image/webp")):
        body = logged_in.put_photo(new_uuid(), encode(rgba, fmt), ctype)
        assert body is not None
        assert body.status_code == 201, body.get_json()
        assert body.get_json()["content_type"] == ctype
        assert served(logged_in, body.get_json()["view_url"]).format == "JPEG"


def test_heic_is_accepted_when_the_plugin_is_installed(logged_in):
    pytest.importorskip("pillow_heif")
    from webapp import images

    assert images.HEIF_SUPPORTED
    data = encode(noisy((320, 240)), "HEIF")
    response = logged_in.put_photo(new_uuid(), data, "image/heic")
    assert response.status_code == 201


def test_concurrent_identical_uploads_create_one_row(app, inspector, openapi_checker):
    """Two phones-worth of the same resend racing: one 201, one 200, one row (a real race on PostgreSQL:
    each thread has its own connection and both pass the existence check before inserting)."""
    from tests.api_support import Api

    data = jpeg((1600, 1200))
    pid = new_uuid()
    clients = []
    for _ in range(4):
        client = Api(app, app.test_client(), openapi_checker)
        client.login("insp")
        clients.append(client)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(client):
        barrier.wait()
        with app.app_context():
            statuses.append(client.put_photo(pid, data).status_code)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Photo).where(Photo.uuid == pid)) == 1
