"""The capture app itself: photos scaled and turned upright in the browser, drafts that survive a
killed tab, the one-tap 卫生尚可 record with the GPS suggestion, server refusals kept for the
inspector, and a new version that waits for the inspector's tap."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timezone

import pytest
from PIL import Image, ImageOps
from sqlalchemy import select

from tests.browser.helpers import (
    add_photos, capture_problem, draft, jpeg, login, outbox_items, shot, stored_photo, wait_app_ready,
    wait_offline_ready, wait_until,
)
from webapp.extensions import db
from webapp.models import Community, Finding

pytestmark = pytest.mark.browser


def phone_photo(size=(4000, 3000), orientation=6) -> bytes:
    """A 12 MP landscape sensor image the camera says to show rotated (EXIF 6): red half on the
    sensor's left, blue on its right, so "upright" is checkable after scaling."""
    img = Image.new("RGB", size)
    w, h = size
    img.paste((220, 30, 30), (0, 0, w // 2, h))
    img.paste((30, 30, 220), (w // 2, 0, w, h))
    noise = Image.effect_noise((w // 4, h // 4), 40).resize(size).convert("RGB")
    img = Image.blend(img, noise, 0.15)
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def test_photo_is_downscaled_upright_and_stripped(browser, live):
    page = browser.page()
    login(page)
    original = phone_photo()
    add_photos(page, [original])
    meta = draft(page)["photos"][0]
    scaled = stored_photo(page, meta["id"])
    assert hashlib.sha256(scaled).hexdigest() == meta["sha256"]
    with Image.open(io.BytesIO(scaled)) as img:
        assert img.format == "JPEG"
        assert img.size == (1200, 1600) == (meta["width"], meta["height"])
        assert img.getexif().get(0x0112) in (None, 1)  # pixels upright, no orientation left to apply
        img = img.convert("RGB")
        top, bottom = img.getpixel((600, 300)), img.getpixel((600, 1300))
    with Image.open(io.BytesIO(original)) as src:
        upright = ImageOps.exif_transpose(src).convert("RGB")
        assert upright.size == (3000, 4000)
        expect_top, expect_bottom = upright.getpixel((1500, 750)), upright.getpixel((1500, 3250))
    for got, want in ((top, expect_top), (bottom, expect_bottom)):
        assert all(abs(a - b) < 60 for a, b in zip(got, want)), (got, want)
    assert top[0] > top[2] and bottom[2] > bottom[0]  # red above blue, as the camera meant it
    assert len(scaled) < len(original) / 3
    print(f"12 MP EXIF-6 JPEG: {len(original)} bytes in, {len(scaled)} bytes stored at 1200x1600")
    thumb = page.evaluate("""async () => {
        const { kvGet } = await import(document.querySelector('script[src*="/js/app.js"]').src.replace('app.js', 'db.js'));
        const t = (await kvGet('draft')).photos[0].thumb;
        const bitmap = await createImageBitmap(new Blob([t.bytes], { type: t.mime }));
        return [bitmap.width, bitmap.height, t.bytes.byteLength];
    }""")
    assert thumb[:2] == [180, 240] and thumb[2] < 30000


def test_draft_survives_a_killed_tab(browser, live):
    page = browser.page()
    login(page)
    page.select_option("#xc-community", label="文苑社区")
    page.click("#xc-categories button:has-text('乱贴乱画')")
    add_photos(page, [jpeg(41), jpeg(42)])
    before = draft(page)
    # The tab dies with the camera up; the phone reopens the app.
    page.close()
    page = browser.context.new_page()
    page.goto("/capture/")
    wait_app_ready(page)
    page.wait_for_selector("#xc-toast:not([hidden]):has-text('已恢复')")
    after = draft(page)
    assert after["id"] == before["id"] and [p["id"] for p in after["photos"]] == [p["id"] for p in before["photos"]]
    assert page.locator("#xc-photos li img").count() == 2
    assert page.locator("#xc-categories button[aria-pressed='true']").inner_text() == "乱贴乱画"
    assert page.locator("#xc-community option:checked").inner_text() == "文苑社区"
    page.click("#xc-save")
    page.wait_for_selector("#xc-toast:not([hidden]):has-text('已保存')")
    wait_until(lambda: [i["state"] for i in outbox_items(page)] == ["sent"], message="sent")
    assert outbox_items(page)[0]["id"] == before["id"]


def test_one_tap_ok_record_at_the_nearby_market(browser, live, data_app):
    page = browser.page()
    login(page)
    page.wait_for_selector("#xc-nearby:not([hidden]):has-text('湖西早市')")
    page.click("#xc-nearby")
    assert page.locator("#xc-community option:checked").inner_text() == "香江社区"
    # A market: its zones are offered, and the market rules come first among the categories.
    page.wait_for_selector("#xc-zones button:has-text('活禽区')")
    assert page.locator("#xc-categories button").first.inner_text() in ("市场分区不规范", "活禽/屠宰区未密闭")
    page.click("#xc-zones button:has-text('活禽区')")
    assert page.inner_text("#xc-place-summary") == "地点:香江社区 · 湖西早市 · 活禽区"
    shot(page, "capture-market")
    shot(page, "capture-market-full", full_page=True)
    page.click("#xc-ok")
    page.wait_for_selector("#xc-toast:not([hidden]):has-text('已保存')")
    # The toast floats over the form for a few seconds: a tap there reaches what is under it.
    assert page.evaluate("""() => {
        const box = document.getElementById("xc-toast").getBoundingClientRect();
        const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
        return hit && hit.id !== "xc-toast";
    }""")
    wait_until(lambda: [i["state"] for i in outbox_items(page)] == ["sent"], message="sent")
    item = outbox_items(page)[0]
    assert item["body"]["kind"] == "ok" and item["photos"] == []
    with data_app.app_context():
        finding = db.session.scalar(select(Finding).where(Finding.uuid == item["id"]))
        assert (finding.kind, finding.status, finding.site_id) == ("ok", "ok", live.places.ids["market"])
        assert finding.latitude == pytest.approx(36.4563) and finding.accuracy_m == 12
        db.session.remove()

    # The next problem: the inspector's own most-used category moves to the front.
    for seed in (51, 52):
        capture_problem(page, [jpeg(seed)], "乱贴乱画")
    page.click("#xc-sites button[aria-pressed='true']")  # leave the market
    assert page.locator("#xc-categories button").first.inner_text() == "乱贴乱画"

    # Reference data is revalidated, not downloaded again: the cached copy's ETag gets a 304.
    with page.expect_response("**/api/v1/reference") as answer:
        page.reload()
    assert answer.value.status == 304 and answer.value.request.headers.get("if-none-match")


def test_refused_capture_waits_in_needs_attention(browser, live, data_app):
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    live.kill()
    refused = capture_problem(page, [jpeg(61)], "散落垃圾", community="文苑社区")
    fine = capture_problem(page, [jpeg(62)], "散落垃圾", community="香江社区")
    # Meanwhile the office retires 文苑社区.
    with data_app.app_context():
        db.session.get(Community, live.places.ids["wenyuan"]).retired_at = datetime.now(timezone.utc)
        db.session.commit()
        db.session.remove()
    live.start()
    page.click("[data-nav='outbox']")
    page.click("#xc-sync-now")
    wait_until(lambda: {i["id"]: i["state"] for i in outbox_items(page)} == {refused: "attention", fine: "sent"},
               message="one refused, one sent")
    row = page.locator(f"#xc-attention li[data-id='{refused}']")
    row.wait_for()
    assert "社区不存在或已停用" in row.inner_text()
    page.wait_for_selector("header [data-outbox-badge]:text-is('1')")  # redrawn at most every 150 ms
    shot(page, "outbox-attention")
    # Deleting asks first; declining keeps it.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button:has-text('删除')").click()
    assert refused in [i["id"] for i in outbox_items(page)]
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('删除')").click()
    wait_until(lambda: refused not in [i["id"] for i in outbox_items(page)], message="deleted")


def test_new_version_waits_for_the_inspectors_tap(browser, live):
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    old_cache = page.evaluate("caches.keys()")
    add_photos(page, [jpeg(71)])  # mid-capture

    # A deploy that changes one line of CSS: the server computes a new shell version at start-up.
    def restyle(root):
        css = root / "static/pwa/css/app.css"
        css.write_text(css.read_text() + "\n.xc-deployed-marker { display: none; }\n")

    live.deploy(restyle)
    page.evaluate("window.__sameDocument = true")
    page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
    page.wait_for_selector("#xc-update:not([hidden])")
    shot(page, "update-prompt")
    # Nothing was swapped: same document, the new worker waiting, the old one and its cache in charge.
    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("navigator.serviceWorker.getRegistration().then((r) => Boolean(r.waiting && r.active))")
    assert set(old_cache) < set(page.evaluate("caches.keys()"))
    with page.expect_navigation():
        page.click("#xc-update-button")
    wait_app_ready(page)
    assert page.evaluate("window.__sameDocument") is None
    wait_until(lambda: (lambda keys: len(keys) == 1 and keys != old_cache)(page.evaluate("caches.keys()")),
               message="only the new version's cache left")
    new_version = page.evaluate("caches.keys()")[0].removeprefix("xc-shell-")
    assert f"/shell/{new_version}/css/app.css" in page.content()
    assert page.locator("#xc-update").is_hidden()
    assert len(draft(page)["photos"]) == 1


def test_outbox_screen_warns_when_storage_runs_low(browser, live):
    # The phone's real numbers cannot be set from a test: stand in for the browser's storage API.
    browser.context.add_init_script("""
        navigator.storage.estimate = async () => ({ usage: 900 * 1048576, quota: 960 * 1048576 });
        navigator.storage.persisted = async () => false;
        navigator.storage.persist = async () => false;
    """)
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    live.kill()
    capture_problem(page, [jpeg(81)], "散落垃圾", community="香江社区")
    page.click("[data-nav='outbox']")
    page.wait_for_selector("#xc-storage .xc-storage-low")
    text = page.inner_text("#xc-storage")
    assert "存储空间不足" in text and "已用 900 MB,可用约 60 MB" in text
    assert "可能清理未发送的记录" in text
    shot(page, "outbox-storage-low")
