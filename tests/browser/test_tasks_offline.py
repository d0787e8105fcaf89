"""A market manager's 我的任务 from a cold start with no signal: one online visit, then the server is
gone (SIGKILL: the service worker's requests fail too) and the browser is killed and relaunched on the
same profile. The page opens from the worker's kept copy and says how old it is; acknowledge and
rectify with an after-photo go into the outbox (downscaled like a capture); back online they reach the
server exactly once, and an action someone else beat to it (409) waits under 需要处理 with the reason."""
from __future__ import annotations

import re
import uuid as uuidlib

import pytest
from sqlalchemy import func, select

from tests.browser.helpers import jpeg, login_to, shot, wait_until
from tests.factories import make_user
from tests.workflow_support import digest
from tests.workflow_support import jpeg as scene
from webapp.extensions import db
from webapp.models import Event, Finding, Photo, Site, User
from webapp.services import workflow
from webapp.services.findings import create_finding
from webapp.services.photos import ingest_photo

pytestmark = pytest.mark.browser

OFFLINE_PAGES = ("/capture/", "/tasks/", "/tasks/verify")


def dispatched(data_app, live, zone_name: str, category_code: str, seed: int) -> str:
    """A finding as the real services make it: captured with a photo, then accepted and dispatched by the
    desk to the market (its party by category)."""
    with data_app.app_context():
        inspector = db.session.get(User, live.places.ids["inspector"])
        market = db.session.get(Site, live.places.ids["market"])
        zone = next(z for z in market.zones if z.name == zone_name)
        desk = db.session.scalar(select(User).where(User.username == "desk"))
        data = scene(seed=seed)
        photo, _ = ingest_photo(inspector, str(uuidlib.uuid4()), data, "image/jpeg", digest(data))
        finding_uuid = str(uuidlib.uuid4())
        create_finding(inspector, finding_uuid, {
            "kind": "problem", "captured_at": workflow.utcnow().isoformat(), "community_id": market.community_id,
            "site_id": market.id, "zone_id": zone.id, "category_code": category_code, "photo_ids": [photo.uuid],
        })
        workflow.apply_action(desk, finding_uuid, str(uuidlib.uuid4()), {"type": "accept", "party": "auto"})
        db.session.remove()
    return finding_uuid


def server_view(data_app, finding_uuid: str) -> dict:
    with data_app.app_context():
        f = db.session.scalar(select(Finding).where(Finding.uuid == finding_uuid))
        view = {
            "status": f.status, "events": [(e.type, e.actor.username if e.actor else None) for e in f.events],
            "after": [(p.received_sha256, p.width, p.height) for p in f.photos if p.kind == "after"],
        }
        db.session.remove()
    return view


def totals(data_app) -> tuple[int, int]:
    with data_app.app_context():
        counts = (db.session.scalar(select(func.count(Event.id))), db.session.scalar(select(func.count(Photo.id))))
        db.session.remove()
    return counts


def outbox(page) -> list[dict]:
    return page.evaluate("""async () => {
        const src = document.querySelector('script[src*="/js/tasks.js"]').src.replace('tasks.js', 'outbox.js');
        return (await (await import(src)).list()).map((i) => ({ state: i.state, error: i.error,
            url: i.request.url, type: i.request.body.type,
            photos: i.photos.map((p) => ({ sha256: p.sha256, width: p.width, height: p.height, size: p.size })) }));
    }""")


def kept_pages(page) -> list[str]:
    """Every page and API URL the service worker holds, whatever the cache."""
    return page.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
        }
        return urls;
    }""")


def test_manager_works_the_task_list_offline_from_a_cold_start(browser, live, data_app):
    with data_app.app_context():
        market = db.session.get(Site, live.places.ids["market"])
        make_user("desk", roles=("desk",))
        make_user("mgr", roles=("manager",), sites=[market]).display_name = "湖西早市管理员"
        make_user("mgr2", roles=("manager",), sites=[market])
        db.session.commit()
        db.session.remove()
    poultry = dispatched(data_app, live, "活禽区", "poultry_open", seed=11)
    zoning = dispatched(data_app, live, "果蔬区", "market_zoning", seed=12)

    # 1. One online visit: log in (remembered, as on a phone) and open 我的任务.
    page = browser.page()
    login_to(page, "/tasks/", "mgr")
    assert page.is_hidden("#tk-copy")  # a live page says nothing about its age
    # The render time as the page will state it (with the date only if a midnight passes in between).
    rendered_at = (page.get_attribute("#tk-copy", "data-time"), page.get_attribute("#tk-copy", "data-time-long"))
    assert re.fullmatch(r"\d\d:\d\d", rendered_at[0])
    wait_until(lambda: page.evaluate("Boolean(navigator.serviceWorker.controller)") and "/tasks/" in kept_pages(page),
               message="the task page kept by the service worker")
    # The manager's own page only: not /capture/ (an inspector's, refused to them), never the API.
    kept = [url for url in kept_pages(page) if not url.startswith("/shell/")]
    assert sorted(kept) == ["/manifest.webmanifest", "/offline", "/tasks/"]
    assert not [url for url in kept_pages(page) if url.startswith("/api/")]

    # 2. No signal in the market hall, and the phone kills the browser.
    live.kill()
    browser.close()
    context = browser.launch()
    context.set_offline(True)
    page = browser.page()
    page.goto("/tasks/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("document.documentElement.dataset.xcCopy") == "kept"
    assert page.is_visible("#tk-copy")
    assert page.text_content("#tk-copy .tk-copy-text") in [f"离线 · 数据截至 {t}" for t in rendered_at]
    assert page.is_hidden("#tk-copy .tk-copy-reload")  # nothing fresher to offer while the server is away
    for finding_uuid in (poultry, zoning):
        page.wait_for_selector(f"#task-{finding_uuid}")
    # Photos are not kept (nothing under /api/ is): one that cannot load leaves a plain note, not a broken image.
    wait_until(lambda: page.evaluate("""[...document.querySelectorAll('.tk-card img')]
        .every((i) => !i.complete || i.naturalWidth > 0)"""), message="no broken photo on the kept page")

    # Meanwhile a colleague with signal acknowledges the zoning problem first.
    with data_app.app_context():
        colleague = db.session.scalar(select(User).where(User.username == "mgr2"))
        workflow.apply_action(colleague, zoning, str(uuidlib.uuid4()), {"type": "acknowledge"})
        db.session.remove()

    # 3. Offline: acknowledge both; rectify the poultry area with a 12-megapixel after-photo.
    card = f"#task-{poultry}"
    page.click(f"{card} [data-action='acknowledge'] button")
    page.wait_for_selector(f"{card} [data-state]:has-text('已签收')")
    page.click(f"#task-{zoning} [data-action='acknowledge'] button")
    page.wait_for_selector(f"#task-{zoning} [data-state]:has-text('已签收')")
    page.click(f"{card} summary:has-text('整改完成')")
    page.set_input_files(f"{card} input[type=file]", files=[
        {"name": "after.jpg", "mimeType": "image/jpeg", "buffer": jpeg(seed=41, size=(4000, 3000))}])
    page.fill(f"{card} textarea[name=note]", "活禽区门帘已放下,地面已冲洗")
    page.click(f"{card} [data-action='rectify'] button[type=submit]")
    page.wait_for_selector(f"{card} [data-state]:has-text('已提交整改')")
    items = outbox(page)
    assert [(i["type"], i["state"]) for i in items] == [
        ("acknowledge", "pending"), ("acknowledge", "pending"), ("rectify", "pending")]
    after = items[2]["photos"]
    # Downscaled on the phone like a capture: long edge 1600 px, a few hundred KB, not the 12 MP original.
    assert len(after) == 1 and (after[0]["width"], after[0]["height"]) == (1600, 1200)
    assert after[0]["size"] < 600_000
    # The badge follows the outbox at most every 150 ms (outbox.onChange).
    page.wait_for_selector("header [data-outbox-badge]:text-is('3')")
    assert page.is_visible("header [data-outbox-badge]")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "tasks-offline-cold-start")
    events_before, photos_before = totals(data_app)

    # 4. Signal again: the outbox sends everything once.
    live.start()
    context.set_offline(False)
    wait_until(lambda: server_view(data_app, poultry)["status"] == "rectified", timeout=30,
               message="the offline actions synced")
    wait_until(lambda: [i["state"] for i in outbox(page)] in (["sent", "attention", "sent"],),
               message="each action sent or refused")
    view = server_view(data_app, poultry)
    assert view["events"] == [("created", "insp"), ("accept", "desk"), ("dispatch", "desk"),
                              ("acknowledge", "mgr"), ("rectify", "mgr")]
    assert view["after"] == [(after[0]["sha256"], 1600, 1200)]  # the bytes the phone hashed, once

    # The colleague won the zoning one: the server's reason is shown, and nothing else happened to it.
    refused = outbox(page)[1]
    assert zoning in refused["url"] and refused["state"] == "attention" and "不能执行" in refused["error"]
    assert [e for e in server_view(data_app, zoning)["events"] if e[0] == "acknowledge"] == [("acknowledge", "mgr2")]
    page.wait_for_selector("#tk-attention:not([hidden])")
    assert "需要处理" in page.inner_text("#tk-attention") and refused["error"] in page.inner_text("#tk-attention")
    page.wait_for_selector("header [data-outbox-badge]:text-is('1')")  # the refused one still wants a decision
    page.wait_for_selector("#tk-copy .tk-copy-reload:not([hidden])")  # the server is back: offer the fresh list
    assert page.text_content("#tk-copy .tk-copy-text") in [f"已恢复网络 · 数据截至 {t}" for t in rendered_at]
    shot(page, "tasks-after-sync")

    # Exactly once: two events and one photo arrived, and another sync sends nothing more.
    assert totals(data_app) == (events_before + 2, photos_before + 1)
    page.click("#tk-copy .tk-copy-reload")
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("document.documentElement.dataset.xcCopy") == "live"
    assert page.is_hidden("#tk-copy")
    wait_until(lambda: page.evaluate(
        "import(document.querySelector('script[src*=\"/js/tasks.js\"]').src.replace('tasks.js', 'sync.js'))"
        ".then((s) => s.currentStatus())")["lastSuccessAt"], message="the reopened page synced")
    assert totals(data_app) == (events_before + 2, photos_before + 1)
    assert page.locator(f"#task-{poultry}").count() == 0  # rectified: off the open list now
