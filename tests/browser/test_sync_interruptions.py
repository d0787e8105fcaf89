"""Done-when, second and third items: a sync cut off midway — by the network after the first photo,
by the server dying and coming back, by the session expiring — completes on the next attempt with
nothing duplicated and nothing lost."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.browser.helpers import (
    capture_problem, jpeg, login, outbox_items, shot, wait_app_ready, wait_offline_ready, wait_until,
)
from webapp.extensions import db
from webapp.models import Finding, Photo

pytestmark = pytest.mark.browser


def server_state(data_app):
    """Every finding and photo the server holds: {finding uuid: [photo uuid, sha256 received]}, photo count."""
    with data_app.app_context():
        findings = {f.uuid: [(p.uuid, p.received_sha256) for p in f.photos]
                    for f in db.session.scalars(select(Finding))}
        photo_count = db.session.scalar(select(func.count(Photo.id)))
        db.session.remove()
    return findings, photo_count


def expected_state(items):
    return {i["id"]: [(p["id"], p["sha256"]) for p in i["photos"]] for i in items}


def count_puts(page) -> Counter:
    """Every PUT the page sends, by URL path (the outbox's retries are visible here)."""
    counter: Counter = Counter()

    def on_request(request):
        if request.method == "PUT":
            counter[request.url.split("?")[0].split("/api/v1/")[1]] += 1
    page.on("request", on_request)
    return counter


def sync_now(page) -> None:
    if "#outbox" not in page.url:
        page.click("[data-nav='outbox']")
    page.click("#xc-sync-now")


def test_connection_lost_after_the_first_photo(browser, live, data_app):
    page = browser.page()
    login(page)
    puts = count_puts(page)
    seen = []

    def flaky(route):
        # Photo 1 goes through; photo 2 reaches the server but its answer is lost; then nothing gets out.
        if route.request.method != "PUT":
            return route.continue_()
        seen.append(route.request.url)
        if len(seen) == 1:
            return route.continue_()
        if len(seen) == 2:
            route.fetch()
        return route.abort("connectionreset")

    browser.context.route("**/api/v1/photos/*", flaky)
    finding_id = capture_problem(page, [jpeg(11), jpeg(12), jpeg(13)], "乱堆乱放", community="香江社区")
    wait_until(lambda: outbox_items(page)[0]["state"] == "failed", message="the item to fail")
    item = outbox_items(page)[0]
    assert [p["uploaded"] for p in item["photos"]] == [True, False, False]
    findings, photo_count = server_state(data_app)
    assert findings == {} and photo_count == 2  # two photos arrived, unattached; no finding yet
    page.click("[data-nav='outbox']")
    page.wait_for_selector("#xc-pending li[data-state='failed']")
    shot(page, "outbox-failed")

    browser.context.unroute("**/api/v1/photos/*")
    sync_now(page)
    wait_until(lambda: outbox_items(page)[0]["state"] == "sent", message="the item to be sent")
    findings, photo_count = server_state(data_app)
    assert findings == expected_state([item]) and photo_count == 3
    photo_ids = [p["id"] for p in item["photos"]]
    # The first photo was never sent again; the second was resent once its answer was lost.
    assert puts[f"photos/{photo_ids[0]}"] == 1
    assert puts[f"photos/{photo_ids[1]}"] >= 2
    assert puts[f"findings/{finding_id}"] == 1


def test_server_killed_and_restarted_mid_sync(browser, live, data_app):
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    live.kill()
    first = capture_problem(page, [jpeg(21), jpeg(22)], "散落垃圾", community="文苑社区")
    second = capture_problem(page, [jpeg(23)], "乱贴乱画")
    items = outbox_items(page)
    assert all(i["state"] in ("pending", "failed") for i in items)
    puts = count_puts(page)

    def crash_after_commit(route):
        # The first finding is stored, then the server dies before its answer leaves.
        if route.request.method == "PUT" and first in route.request.url and live.running:
            route.fetch()
            live.kill()
            return route.abort("connectionreset")
        return route.continue_()

    # Routed before the server is back, so the outbox's own retry timer cannot slip past it.
    browser.context.route("**/api/v1/findings/*", crash_after_commit)
    live.start()
    sync_now(page)
    # outbox_items() first: Playwright runs the route handler only while the test calls into it.
    wait_until(lambda: outbox_items(page)[0]["state"] == "failed" and not live.running,
               message="the crash mid-sync")
    # The second capture went alongside the first (sync.CONCURRENCY): sent before the crash, or cut by it.
    wait_until(lambda: "sending" not in [i["state"] for i in outbox_items(page)], message="the run to end")
    items = outbox_items(page)
    assert items[0]["state"] == "failed" and items[1]["state"] in ("sent", "failed")
    assert all(p["uploaded"] for p in items[0]["photos"])
    findings, _ = server_state(data_app)
    assert first in findings and set(findings) <= {first, second}  # committed, though the phone never heard so
    second_sent_before_crash = items[1]["state"] == "sent"

    browser.context.unroute("**/api/v1/findings/*")
    live.start()
    sync_now(page)
    wait_until(lambda: [i["state"] for i in outbox_items(page)] == ["sent", "sent"], message="both sent")
    findings, photo_count = server_state(data_app)
    assert findings == expected_state(items) and photo_count == 3
    assert puts[f"findings/{first}"] == 2
    assert puts[f"findings/{second}"] == 1 if second_sent_before_crash else 1 <= puts[f"findings/{second}"] <= 2


def test_expired_session_keeps_the_outbox_and_resumes_after_login(browser, live, data_app):
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    live.kill()
    capture_problem(page, [jpeg(31), jpeg(32)], "散落垃圾", community="香江社区")
    capture_problem(page, [jpeg(33)], "垃圾箱满溢/异味")
    live.start()

    def expire_session(route):
        # The session ends (cookies gone, as after a logout elsewhere or expiry) while the sync runs.
        browser.context.clear_cookies()
        return route.continue_()

    browser.context.route("**/api/v1/photos/*", expire_session)
    sync_now(page)
    page.wait_for_selector("#xc-auth:not([hidden])")
    shot(page, "outbox-login-expired")
    browser.context.unroute("**/api/v1/photos/*")
    items = outbox_items(page)
    assert len(items) == 2 and all(i["state"] in ("pending", "failed") for i in items)
    assert all(i["error"] is None for i in items)  # not the captures' fault: no error on them
    findings, _ = server_state(data_app)
    assert findings == {}

    page.click("#xc-login-link")
    page.wait_for_url("**/login**")
    page.fill("input[name=username]", "insp")
    page.fill("input[name=password]", "correct-horse-42")
    page.click("button[type=submit]")
    page.wait_for_url("**/capture/**")
    wait_app_ready(page)
    wait_until(lambda: [i["state"] for i in outbox_items(page)] == ["sent", "sent"], message="both sent after login")
    findings, photo_count = server_state(data_app)
    assert findings == expected_state(items) and photo_count == 3
    assert page.locator("#xc-auth").is_hidden()


def test_two_tabs_never_send_at_once(browser, live, data_app):
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    live.kill()
    capture_problem(page, [jpeg(91), jpeg(92)], "散落垃圾", community="香江社区")
    other = browser.context.new_page()
    other.goto("/capture/#outbox")
    wait_app_ready(other)
    puts: Counter = Counter()
    browser.context.on("request", lambda r: r.method == "PUT" and puts.update([r.url.split("/api/v1/")[1]]))

    def slow_photos(route):
        # Long enough that two runs started together would overlap.
        other.wait_for_timeout(400)
        route.continue_()

    browser.context.route("**/api/v1/photos/*", slow_photos)
    live.start()
    start = """(url) => { window.__sync = import(url).then((m) => m.syncNow('test')); }"""
    for tab in (page, other):
        tab.evaluate(start, tab.evaluate("document.querySelector('script[src*=\"/js/app.js\"]').src.replace('app.js', 'sync.js')"))
    results = [tab.evaluate("window.__sync") for tab in (page, other)]
    assert sorted(r["ran"] for r in results) == [False, True], results
    assert [r.get("reason") for r in results if not r["ran"]] == ["other-tab"]
    wait_until(lambda: [i["state"] for i in outbox_items(page)] == ["sent"], message="sent")
    assert puts and set(puts.values()) == {1}, puts
    findings, photo_count = server_state(data_app)
    assert len(findings) == 1 and photo_count == 2
