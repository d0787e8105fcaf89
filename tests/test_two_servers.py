"""Any app server can serve any request: two gunicorn processes on different ports share one
PostgreSQL database and one S3 bucket; a capture synced through one is visible through the other.

Runs in the PostgreSQL pass of `make test` (TEST_DATABASE_URL); SQLite is a one-server database.
"""
from __future__ import annotations

import hashlib
import os
import re
import uuid as uuidlib
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.api_support import digest, jpeg
from tests.factories import category, make_community, make_street, make_user
from tests.live_server import start_server
from tests.s3_support import s3_settings, server_env
from webapp.auth.tokens import issue_token
from webapp.extensions import db

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                       reason="two servers share a PostgreSQL database: set TEST_DATABASE_URL"),
]


@pytest.fixture(scope="module")
def servers(app, database_url, s3_server, tmp_path_factory):
    """Two production-configured servers over the session's PostgreSQL schema and a fresh bucket,
    started once for this module (each start costs seconds)."""
    settings = s3_settings(s3_server, prefix="two-servers")
    env = server_env(settings)
    started = []
    try:
        for name in ("a", "b"):
            home = tmp_path_factory.mktemp(f"server-{name}")
            # Each server gets its own empty UPLOAD_DIR: nothing may come from a local disk.
            started.append(start_server(home, database_url, home / "uploads", wait=False, **env))
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.stop()


def test_a_capture_synced_through_one_server_is_served_by_the_other(app, ctx, servers):
    a, b = servers
    street = make_street("柳园街道")
    community = make_community(street, "文苑社区")
    category("bin_overflow")
    inspector = make_user("insp-two", roles=("inspector",))
    token = issue_token(inspector, "phone")
    db.session.commit()
    community_id = community.id
    db.session.close()  # no transaction of ours may hold anything the servers need
    auth = {"Authorization": f"Bearer {token}"}

    # Sync through A: the photo, then the finding that points at it.
    data = jpeg((1024, 768))
    photo_id, finding_id = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    put_photo = requests.put(f"{a.url}/api/v1/photos/{photo_id}", data=data, timeout=30,
                             headers={**auth, "Content-Type": "image/jpeg", "Content-Digest": digest(data)})
    assert put_photo.status_code == 201, put_photo.text
    captured = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) - timedelta(minutes=3)
    payload = {"kind": "problem", "captured_at": captured.isoformat(), "community_id": community_id,
               "category_code": "bin_overflow", "note": "新嘉园小区门口垃圾桶满溢",
               "location": {"lat": 36.4561, "lon": 115.9851}, "photo_ids": [photo_id]}
    put_finding = requests.put(f"{a.url}/api/v1/findings/{finding_id}", timeout=30, headers=auth, json=payload)
    assert put_finding.status_code == 201, put_finding.text

    # Read through B.
    got = requests.get(f"{b.url}/api/v1/findings/{finding_id}", headers=auth, timeout=30)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["id"] == finding_id and body["status"] == "submitted"
    assert body["note"] == "新嘉园小区门口垃圾桶满溢"
    [photo] = body["photos"]
    assert photo["id"] == photo_id
    via_b = requests.get(b.url + photo["view_url"], headers=auth, timeout=30)
    via_a = requests.get(a.url + photo["view_url"], headers=auth, timeout=30)
    assert via_b.status_code == via_a.status_code == 200
    assert via_b.content == via_a.content and via_b.content[:2] == b"\xff\xd8"
    master_b = requests.get(f"{b.url}/api/v1/photos/{photo_id}/master", headers=auth, timeout=30)
    assert hashlib.sha256(master_b.content).hexdigest() == put_photo.json()["stored_sha256"]

    # A resend through B is recognised as the same finding (idempotency is in the shared database).
    again = requests.put(f"{b.url}/api/v1/findings/{finding_id}", timeout=30, headers=auth, json=payload)
    assert again.status_code == 200 and again.json()["id"] == finding_id


def test_sessions_and_the_app_shell_are_the_same_on_every_server(app, ctx, servers):
    a, b = servers
    make_user("desk-two", roles=("desk",))
    db.session.commit()
    db.session.close()

    # Log in on A; the signed session cookie works on B (same SECRET_KEY, nothing stored per server).
    browser = requests.Session()
    page = browser.get(f"{a.url}/login", timeout=30).text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    login = browser.post(f"{a.url}/login", timeout=30, allow_redirects=False,
                         data={"username": "desk-two", "password": "correct-horse-42", "csrf_token": csrf, "next": ""})
    assert login.status_code == 302, login.text
    session_on_b = browser.get(f"{b.url}/api/v1/session", timeout=30)
    assert session_on_b.status_code == 200 and session_on_b.json()["user"]["username"] == "desk-two"

    # The service worker (and its precache version) is byte-for-byte the same on both servers.
    sw_a, sw_b = (requests.get(f"{s.url}/sw.js", timeout=30) for s in (a, b))
    assert sw_a.status_code == sw_b.status_code == 200
    assert sw_a.content == sw_b.content

    for server in (a, b):
        ready = requests.get(f"{server.url}/readyz", timeout=30).json()
        assert ready["checks"]["database"]["ok"] and ready["checks"]["storage"]["ok"]


def test_the_login_throttle_counts_across_servers(app, ctx, servers):
    """Guessing a password on alternate servers is no faster: the attempts are counted in the database."""
    a, b = servers
    make_user("comm-two", roles=("community",))
    db.session.commit()
    db.session.close()
    limit = app.config["LOGIN_THROTTLE_ACCOUNT_MAX"]

    def attempt(server, password="wrong-password-1"):
        client = requests.Session()
        page = client.get(f"{server.url}/login", timeout=30).text
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        return client.post(f"{server.url}/login", timeout=30, allow_redirects=False,
                           data={"username": "comm-two", "password": password, "csrf_token": csrf, "next": ""})

    statuses = [attempt(a if i % 2 else b).status_code for i in range(limit)]
    assert statuses == [401] * limit
    refused = attempt(b, password="correct-horse-42")  # even the right password waits now
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
