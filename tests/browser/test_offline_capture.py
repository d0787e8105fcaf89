"""Done-when, first item: captures made offline survive a reload and a browser restart, then reach
the server exactly once, with the photo hashes the phone computed."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.browser.helpers import (
    capture_problem, jpeg, login, outbox_items, shot, wait_app_ready, wait_offline_ready, wait_until,
)
from webapp.extensions import db
from webapp.models import Finding, Photo

pytestmark = pytest.mark.browser


def server_rows(data_app, finding_ids):
    with data_app.app_context():
        findings = db.session.scalars(select(Finding).where(Finding.uuid.in_(finding_ids))).all()
        photos = {p.uuid: p.received_sha256 for f in findings for p in f.photos}
        total = db.session.scalar(select(func.count(Finding.id)))
        total_photos = db.session.scalar(select(func.count(Photo.id)))
        db.session.remove()
    return findings, photos, total, total_photos


def test_offline_captures_survive_reload_and_restart_then_sync_once(browser, live, data_app):
    context = browser.context
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    shot(page, "capture-online")

    # No network: the server is gone for the page and the service worker alike.
    live.kill()
    context.set_offline(True)
    ids = [
        capture_problem(page, [jpeg(1), jpeg(2)], "散落垃圾", community="香江社区"),
        capture_problem(page, [jpeg(3)], "乱堆乱放"),
        capture_problem(page, [jpeg(4), jpeg(5), jpeg(6)], "散落垃圾"),
    ]
    shot(page, "capture-offline-after-save")
    page.goto("/capture/#outbox")
    wait_app_ready(page)
    shot(page, "outbox-offline")

    page.reload()
    wait_app_ready(page)
    assert [i["id"] for i in outbox_items(page)] == ids

    # The phone kills the browser; it comes back, still offline, on the same profile.
    browser.close()
    context = browser.launch()
    context.set_offline(True)
    page = browser.page()
    page.goto("/capture/#outbox")
    wait_app_ready(page)
    items = outbox_items(page)
    assert [i["id"] for i in items] == ids
    assert all(i["state"] in ("pending", "failed") for i in items)
    wait_until(lambda: page.locator("#xc-pending li.xc-item").count() == 3, message="three rows waiting")
    page.wait_for_selector("header [data-outbox-badge]:text-is('3')")  # redrawn at most every 150 ms
    phone_hashes = {p["id"]: p["sha256"] for i in items for p in i["photos"]}
    assert len(phone_hashes) == 6

    # Back online: everything goes, exactly once.
    live.start()
    context.set_offline(False)
    wait_until(lambda: all(i["state"] == "sent" for i in outbox_items(page)), timeout=30,
               message="all captures sent")
    findings, server_hashes, total, total_photos = server_rows(data_app, ids)
    assert sorted(f.uuid for f in findings) == sorted(ids)
    assert total == 3 and total_photos == 6
    assert server_hashes == phone_hashes
    page.wait_for_selector("#xc-sent li.xc-item >> nth=2")
    assert page.locator("#xc-sent li[data-state='sent']").count() == 3
    assert page.locator("#xc-pending li.xc-item").count() == 0
    page.wait_for_selector("header [data-outbox-badge]", state="hidden")
    shot(page, "outbox-sent")
    page.goto("/capture/#mine")
    page.wait_for_selector("#xc-mine li.xc-item >> nth=2")
    # The server's thumbnails, fetched by the page through the authorised photo route.
    wait_until(lambda: page.evaluate(
        "[...document.querySelectorAll('#xc-mine img.xc-thumb')].filter((i) => i.complete && i.naturalWidth > 0).length") == 3,
        message="thumbnails of my findings")
    shot(page, "mine")

    # "我的记录" reads offline as of the last sync.
    live.kill()
    context.set_offline(True)
    page.reload()
    wait_app_ready(page)
    page.wait_for_selector("#xc-mine li.xc-item >> nth=2")
    assert sorted(page.eval_on_selector_all("#xc-mine li.xc-item", "(els) => els.map((e) => e.dataset.id)")) == sorted(ids)
    assert "离线" in page.inner_text("#xc-mine-meta")
