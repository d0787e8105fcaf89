"""Done-when of the workflow issue, in a real browser: the desk accepts and dispatches a synced
finding with one key; the market manager, offline, acknowledges it and rectifies it with an
after-photo; back online the outbox delivers both; the inspector verifies it on the 待核查 list; the
finding's page shows the whole history with before and after side by side."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.browser.helpers import (
    CHROMIUM, CHROMIUM_ARGS, MARKET_LAT, MARKET_LON, PASSWORD, add_photos, jpeg, login, outbox_items, shot,
    wait_until,
)
from tests.factories import make_user
from tests.workflow_support import jpeg as scene  # a picture unlike the capture's, as a real fix is
from webapp.extensions import db
from webapp.models import Finding, Site

pytestmark = pytest.mark.browser


def finding_row(data_app, finding_uuid: str) -> dict | None:
    with data_app.app_context():
        f = db.session.scalar(select(Finding).where(Finding.uuid == finding_uuid))
        row = None if f is None else {
            "status": f.status, "version": f.version, "party_kind": f.party_kind, "party_site_id": f.party_site_id,
            "events": [e.type for e in f.events], "kinds": [p.kind for p in f.photos],
        }
        db.session.remove()
    return row


def task_outbox(page) -> list[dict]:
    """The outbox as the tasks page sees it (the same IndexedDB as the capture app)."""
    return page.evaluate("""async () => {
        const src = document.querySelector('script[src*="/js/tasks.js"]').src.replace('tasks.js', 'outbox.js');
        const outbox = await import(src);
        return (await outbox.list()).map((i) => ({ kind: i.kind, state: i.state, error: i.error,
            body: i.request.body, photos: i.photos.map((p) => ({ id: p.id, uploaded: p.uploaded })) }));
    }""")


def web_login(page, username: str, landing: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{landing}**")


def test_desk_dispatch_offline_rectify_verify_and_history(browser, live, data_app, playwright_instance):
    with data_app.app_context():
        market = db.session.get(Site, live.places.ids["market"])
        make_user("desk", roles=("desk",)).display_name = "内勤小王"
        manager = make_user("mgr", roles=("manager",), sites=[market])
        manager.display_name = "湖西早市管理员"
        db.session.commit()
        db.session.remove()

    # 1. The inspector captures a problem in the market's live-poultry zone; it syncs.
    phone = browser.page()
    login(phone)
    add_photos(phone, [jpeg(seed=5)])
    phone.click("#xc-nearby")  # the GPS fix is at 湖西早市
    phone.click("#xc-zones button:has-text('活禽区')")
    category = phone.locator("#xc-categories button:has-text('活禽/屠宰区未密闭')")
    if not category.is_visible():
        phone.click("#xc-more-cats")
    category.click()
    finding_uuid = phone.evaluate("""async () => {
        const src = document.querySelector('script[src*="/js/app.js"]').src.replace('app.js', 'db.js');
        return (await (await import(src)).kvGet('draft')).id;
    }""")
    phone.click("#xc-save")
    phone.wait_for_selector("#xc-toast:not([hidden]):has-text('已保存')")
    assert any(item["id"] == finding_uuid for item in outbox_items(phone))
    wait_until(lambda: finding_row(data_app, finding_uuid), message="the capture synced")
    browser.close()

    desktop = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        # 2. The desk opens it from the queue and presses A: accepted and dispatched to the market.
        desk = desktop.new_context(base_url=live.url, viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                   timezone_id="Asia/Shanghai").new_page()
        web_login(desk, "desk", "/review/")
        desk.click(f".rv-item[data-finding='{finding_uuid}']")
        desk.wait_for_selector("#fd-accept")
        assert "自动: 湖西早市" in desk.inner_text("#fd-party")
        with desk.expect_navigation():
            desk.keyboard.press("a")
        row = finding_row(data_app, finding_uuid)
        assert (row["status"], row["party_kind"], row["party_site_id"]) == ("dispatched", "market",
                                                                            live.places.ids["market"])

        # 3. The market manager's phone loads 我的任务, then loses the network in the market hall.
        manager_ctx = desktop.new_context(
            base_url=live.url, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True,
            locale="zh-CN", timezone_id="Asia/Shanghai", permissions=["geolocation"],
            geolocation={"latitude": MARKET_LAT, "longitude": MARKET_LON, "accuracy": 10})
        mgr = manager_ctx.new_page()
        web_login(mgr, "mgr", "/tasks/")
        mgr.wait_for_selector("body[data-ready='1']")
        card = f"#task-{finding_uuid}"
        assert "湖西早市 · 活禽区" in mgr.inner_text("main")
        manager_ctx.set_offline(True)
        mgr.click(f"{card} [data-action='acknowledge'] button")
        mgr.wait_for_selector(f"{card} [data-state]:has-text('已签收')")
        mgr.click(f"{card} summary:has-text('整改完成')")
        mgr.set_input_files(f"{card} input[type=file]", files=[
            {"name": "after.jpg", "mimeType": "image/jpeg", "buffer": scene(seed=77, size=(1200, 900))}])
        mgr.fill(f"{card} textarea[name=note]", "活禽区门帘已放下,地面已冲洗")
        mgr.click(f"{card} [data-action='rectify'] button[type=submit]")
        mgr.wait_for_selector(f"{card} [data-state]:has-text('已提交整改')")
        shot(mgr, "workflow-manager-offline", full_page=True)
        items = task_outbox(mgr)
        assert [(i["kind"], i["state"], i["body"]["type"]) for i in items] == [
            ("action", "pending", "acknowledge"), ("action", "pending", "rectify")]
        assert items[1]["body"]["expected_version"] == 3 and len(items[1]["photos"]) == 1
        assert finding_row(data_app, finding_uuid)["status"] == "dispatched"  # nothing left the phone

        # 4. Back online: the outbox delivers both actions, the photo first.
        manager_ctx.set_offline(False)
        wait_until(lambda: finding_row(data_app, finding_uuid)["status"] == "rectified", timeout=30,
                   message="the offline actions synced")
        wait_until(lambda: all(i["state"] == "sent" for i in task_outbox(mgr)), message="outbox marked sent")
        row = finding_row(data_app, finding_uuid)
        assert row["events"] == ["created", "accept", "dispatch", "acknowledge", "rectify"]
        assert row["kinds"] == ["before", "after"]
        manager_ctx.close()

        # 5. The inspector verifies it from 待核查.
        insp = desktop.new_context(base_url=live.url, viewport={"width": 375, "height": 812}, is_mobile=True,
                                   locale="zh-CN", timezone_id="Asia/Shanghai").new_page()
        web_login(insp, "insp", "/capture/")
        insp.goto("/tasks/verify")
        insp.wait_for_selector("body[data-ready='1']")
        insp.click(f"#task-{finding_uuid} [data-action='verify'] button")
        wait_until(lambda: finding_row(data_app, finding_uuid)["status"] == "verified", message="verified")

        # 6. Its page: before and after side by side, and every step of the history.
        insp.goto(f"/review/findings/{finding_uuid}")
        compare = insp.locator("#fd-compare")
        figures = compare.locator("figure")
        assert figures.count() == 2
        assert "整改前" in figures.nth(0).inner_text() and "整改后" in figures.nth(1).inner_text()
        for i in range(2):
            img = figures.nth(i).locator("img").first
            wait_until(lambda img=img: img.evaluate("i => i.complete && i.naturalWidth > 0"), message="photo shown")
        left, right = (figures.nth(i).bounding_box() for i in range(2))
        assert abs(left["y"] - right["y"]) < 2 and left["x"] < right["x"]  # side by side, not stacked
        history = insp.inner_text("#fd-history")
        for label in ("发现问题", "上报", "立案", "派遣", "签收", "提交整改", "核查通过", "活禽区门帘已放下"):
            assert label in history, label
        shot(insp, "workflow-finding-history", full_page=True)
    finally:
        desktop.close()
