"""Done-when: a browser opens the daily report, presses copy and reads the clipboard; the report and
the dashboard are screenshotted at a phone's and a laptop's size (test-artifacts/report-*.png)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.report_day import build_day
from webapp.extensions import db

pytestmark = pytest.mark.browser

SITE_LINES = """古楼街道卫生督导通报（2025年9月18日）
检查点位7处，卫生尚可2处，发现问题7条。另有1条待审核，未列入。

汇金社区：
运河路西沿儿蓬莱野生海鲜馆：店外摆放酒箱、桌椅等物品；
王口新村：乱堆乱放（新出现一堆烂木材需要清理），个别楼下有散落垃圾；"""


@pytest.fixture
def report_day(live, data_app):
    """The live server with the report tests' fixed day instead of the capture tests' places."""
    with data_app.app_context():
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        day = build_day()
        db.session.commit()
        ids = {"gulou": day.gulou.id}
        db.session.remove()
    return ids


@pytest.fixture
def desktop(playwright_instance, live):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    context = browser.new_context(
        base_url=live.url, viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True,
        has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai",
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    context.set_default_timeout(15000)
    yield context
    context.close()
    browser.close()


def shot(page, name: str, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)


def test_copy_the_daily_report_to_the_clipboard(report_day, desktop):
    page = desktop.new_page()
    target = f"/reports/daily?date=2025-09-18&street={report_day['gulou']}"
    page.goto(f"/login?next={target.replace('&', '%26')}")
    page.fill("input[name=username]", "lingdao")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/reports/daily**")

    text = page.input_value("#chat-part-1")
    assert text.startswith(SITE_LINES)
    page.tap("[data-copy='chat-part-1']")
    button = page.locator("[data-copy='chat-part-1']")
    expect(button).to_have_text("已复制")
    assert page.evaluate("navigator.clipboard.readText()") == text

    # Where the async clipboard is refused (plain http on a LAN), select + execCommand still copies.
    page.evaluate("""async () => {
        await navigator.clipboard.writeText('');
        navigator.clipboard.writeText = () => Promise.reject(new Error('not allowed'));
    }""")
    expect(button).to_have_text("复制", timeout=5000)
    page.evaluate("document.querySelector('.copy-status').textContent = ''")
    page.tap("[data-copy='chat-part-1']")
    expect(page.locator(".copy-status")).to_have_text("已复制")
    assert page.evaluate("navigator.clipboard.readText()") == text

    shot(page, "report-daily", 375, 812)
    shot(page, "report-daily", 1280, 800)
    page.emulate_media(media="print")
    shot(page, "report-daily-print", 1280, 800)
    page.emulate_media(media="screen")

    for path, name in (("/reports/?from=2025-09-16&to=2025-09-18", "report-dashboard"),
                       ("/reports/inspectors?from=2025-09-16&to=2025-09-18", "report-inspectors"),
                       ("/reports/markets?from=2025-09-16&to=2025-09-18", "report-markets")):
        page.set_viewport_size({"width": 375, "height": 812})
        page.goto(path)
        assert page.locator("h1").count() == 1
        shot(page, name, 375, 812)
        shot(page, name, 1280, 800)
