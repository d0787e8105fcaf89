"""The S3 backend over real HTTP (moto's server on loopback), presigned and X-Accel serving, readiness,
and `migrate-storage --to s3`. The rest of the photo suite runs against S3 with STORAGE=s3."""
from __future__ import annotations

import hashlib
import uuid as uuidlib
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.api_support import digest, jpeg
from tests.factories import make_user
from tests.s3_support import client as s3_client
from tests.s3_support import s3_settings
from webapp import create_app
from webapp.extensions import db
from webapp.storage import InvalidKey, LocalStore, get_storage, key_for
from webapp.storage.migrate import migrate
from webapp.storage.s3 import S3Store


def blob(text: str) -> tuple[str, bytes]:
    data = f"photo bytes {text}".encode()
    return key_for(hashlib.sha256(data).hexdigest()), data


@pytest.fixture
def s3(s3_server):
    settings = s3_settings(s3_server, prefix="city/photos")
    return settings, S3Store.from_config(settings)


def make_app(database_url, tmp_path, **overrides):
    url, engine_options = database_url
    return create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, **engine_options},
        "UPLOAD_DIR": str(tmp_path / "uploads"), "SERVER_NAME": "localhost", **overrides,
    })


def test_the_five_verbs_over_http(s3):
    settings, store = s3
    key, data = blob("a")
    assert not store.exists(key)
    store.put(key, data)
    assert store.exists(key) and store.read(key) == data
    with store.open(key) as fh:
        assert fh.read() == data
    # Content-addressed keys under the prefix, exactly as on disk.
    raw = s3_client(settings).get_object(Bucket=settings["S3_BUCKET"], Key=f"city/photos/{key}")
    assert raw["Body"].read() == data and raw["ContentType"] == "image/jpeg"
    store.put(key, data)  # a resend: refreshes, does not fail
    assert list(store.keys()) == [key]
    assert store.delete(key) is True and store.delete(key) is False
    with pytest.raises(FileNotFoundError):
        store.open(key)
    with pytest.raises(InvalidKey):
        store.put("../../etc/passwd", b"x")


def test_keys_ignore_foreign_objects_and_filter_by_age(s3):
    settings, store = s3
    key, data = blob("b")
    store.put(key, data)
    raw = s3_client(settings)
    raw.put_object(Bucket=settings["S3_BUCKET"], Key="city/photos/README.txt", Body=b"not a photo")
    raw.put_object(Bucket=settings["S3_BUCKET"], Key=f"elsewhere/{key}", Body=data)
    assert list(store.keys()) == [key]
    now = datetime.now(timezone.utc)
    assert list(store.keys(older_than=now - timedelta(hours=1))) == []
    assert list(store.keys(older_than=now + timedelta(minutes=1))) == [key]
    assert store.is_older_than(key, now + timedelta(minutes=1))
    assert not store.is_older_than(key, now - timedelta(hours=1))
    assert not store.is_older_than(blob("absent")[0], now + timedelta(minutes=1))


def test_get_storage_builds_one_client_per_bucket(s3):
    settings, _ = s3
    store = get_storage(settings)
    assert isinstance(store, S3Store) and store.bucket == settings["S3_BUCKET"] and store.prefix == "city/photos/"
    assert get_storage(dict(settings)) is store


def test_readiness_checks_the_bucket(app, database_url, tmp_path, s3):
    settings, _ = s3
    good = make_app(database_url, tmp_path, **settings).test_client().get("/readyz")
    assert good.status_code == 200 and good.get_json()["checks"]["storage"]["ok"] is True
    missing = make_app(database_url, tmp_path, **{**settings, "S3_BUCKET": "no-such-bucket-xc"})
    response = missing.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["storage"]["ok"] is False
    assert response.get_json()["checks"]["database"]["ok"] is True


def _upload(client, user_token) -> tuple[str, str]:
    data = jpeg((900, 700))
    photo_id = str(uuidlib.uuid4())
    response = client.put(f"/api/v1/photos/{photo_id}", data=data, content_type="image/jpeg",
                          headers={"Authorization": f"Bearer {user_token}", "Content-Digest": digest(data)})
    assert response.status_code == 201, response.get_data(as_text=True)
    return photo_id, response.get_json()["view_url"]


def _token(flask_app, username):
    from webapp.auth.tokens import issue_token

    with flask_app.app_context():
        user = make_user(username)
        raw = issue_token(user, "test")
        db.session.commit()
    return raw


def test_presigned_serving_redirects_after_the_access_check(app, database_url, tmp_path, s3):
    settings, store = s3
    presigned = make_app(database_url, tmp_path, **settings, PHOTO_SERVING="presigned", PHOTO_URL_TTL=120)
    client = presigned.test_client()
    token = _token(presigned, "insp-s3")
    other = _token(presigned, "someone-else")
    photo_id, view_url = _upload(client, token)
    response = client.get(view_url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(settings["S3_ENDPOINT_URL"]) and "X-Amz-Expires=120" in location
    assert response.headers["Cache-Control"] == "private, max-age=24"
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    with presigned.app_context():
        from webapp.models import Photo
        from webapp.services.photos import variant_sha256

        photo = db.session.query(Photo).filter_by(uuid=photo_id).one()
        assert hashlib.sha256(fetched.content).hexdigest() == variant_sha256(photo, "view")
    # Pages may show images from the bucket: its origin joins img-src, and only in this mode.
    csp = client.get("/login").headers["Content-Security-Policy"]
    img_src = next(d for d in csp.split("; ") if d.startswith("img-src "))
    assert img_src == f"img-src 'self' blob: data: {settings['S3_ENDPOINT_URL']}"
    assert settings["S3_ENDPOINT_URL"] not in csp.replace(img_src, "")
    # Whoever may not see the photo gets no link at all.
    denied = client.get(view_url, headers={"Authorization": f"Bearer {other}"})
    assert denied.status_code == 404 and "Location" not in denied.headers


def test_streamed_serving_from_s3(app, database_url, tmp_path, s3):
    settings, _ = s3
    streaming = make_app(database_url, tmp_path, **settings, PHOTO_SERVING="stream")
    client = streaming.test_client()
    token = _token(streaming, "insp-stream")
    _photo_id, view_url = _upload(client, token)
    response = client.get(view_url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.data[:2] == b"\xff\xd8"
    assert settings["S3_ENDPOINT_URL"] not in client.get("/login").headers["Content-Security-Policy"]


def test_x_accel_redirect_for_the_local_store(app, database_url, tmp_path):
    local = make_app(database_url, tmp_path, PHOTO_STORE="local", PHOTO_X_ACCEL_PREFIX="/_photos/")
    client = local.test_client()
    token = _token(local, "insp-accel")
    _photo_id, view_url = _upload(client, token)
    response = client.get(view_url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.data == b""
    accel = response.headers["X-Accel-Redirect"]
    assert accel.startswith("/_photos/")
    stored = tmp_path / "uploads" / accel.removeprefix("/_photos/")
    assert stored.is_file()  # nginx's internal location maps the prefix onto UPLOAD_DIR
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"


# --- migrate-storage ---------------------------------------------------------------------------------

def test_migrate_storage_copies_verifies_and_resumes(app, database_url, tmp_path, s3):
    settings, store = s3
    local = LocalStore(tmp_path / "uploads")
    good = [blob(str(i)) for i in range(5)]
    for key, data in good:
        local.put(key, data)
    damaged_key, _ = blob("damaged")
    local.put(damaged_key, b"bit rot")  # bytes that do not hash to the key
    source_app = make_app(database_url, tmp_path, **settings)
    runner = source_app.test_cli_runner()

    dry = runner.invoke(args=["migrate-storage", "--to", "s3", "--dry-run"])
    assert "would copy 5" in dry.output and list(store.keys()) == []

    first = runner.invoke(args=["migrate-storage", "--to", "s3"])
    assert first.exit_code == 1, first.output  # the damaged file is reported, the rest copied
    assert "copied 5, already present 0, failed 1" in first.output
    assert damaged_key in first.output
    assert sorted(store.keys()) == sorted(k for k, _ in good)
    assert all(store.read(k) == d for k, d in good)

    local.delete(damaged_key)
    again = runner.invoke(args=["migrate-storage", "--to", "s3"])
    assert again.exit_code == 0 and "copied 0, already present 5, failed 0" in again.output

    # A wrong object under a content key (an interrupted tool, a manual upload) is replaced.
    key0, data0 = good[0]
    s3_client(settings).put_object(Bucket=settings["S3_BUCKET"], Key=store.object_key(key0), Body=b"wrong")
    repaired = runner.invoke(args=["migrate-storage", "--to", "s3"])
    assert repaired.exit_code == 0 and "copied 1, already present 4" in repaired.output
    assert store.read(key0) == data0


def test_migrate_resumes_after_an_interruption(s3, tmp_path):
    _, store = s3
    local = LocalStore(tmp_path / "src")
    items = [blob(f"r{i}") for i in range(6)]
    for key, data in items:
        local.put(key, data)
    keys = sorted(local.keys())
    partial = migrate(local, store, keys=keys[:3], jobs=2)  # as if killed half-way
    assert (partial.copied, partial.skipped) == (3, 0)
    rest = migrate(local, store, jobs=3)
    assert (rest.copied, rest.skipped, rest.failed) == (3, 3, [])
