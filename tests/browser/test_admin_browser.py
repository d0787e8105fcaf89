"""Done-when for the admin console, in Chromium against the real server: an admin creates a market
manager scoped to 湖西早市 with the pickers; the manager logs in with the temporary password, is made
to choose their own, and then sees only that market. The admin screens are screenshotted at a
phone's and a laptop's size (test-artifacts/admin-*.png)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.factories import make_finding, make_user
from webapp.extensions import db
from webapp.models import Community, Site, User

pytestmark = pytest.mark.browser

SIZES = ((375, 812), (1280, 800))


@pytest.fixture
def chromium(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


def new_context(chromium, live, width=375, height=812):
    context = chromium.new_context(base_url=live.url, viewport={"width": width, "height": height},
                                   device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15000)
    return context


def shoot(context, live, name: str, path: str) -> None:
    """The same page at both sizes, full length."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = context.new_page()
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(path)
        page.screenshot(path=str(ARTIFACTS / f"admin-{name}-{width}.png"), full_page=True)
    page.close()


def log_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture
def scene(live, data_app):
    """The live server's places plus an admin and two dispatched problems: one at the market, one elsewhere."""
    places = live.places
    with data_app.app_context():
        make_user("admin1", roles=("admin",)).display_name = "街道管理员"
        inspector = db.session.get(User, places.ids["inspector"])
        market = db.session.get(Site, places.ids["market"])
        estate = db.session.get(Site, places.ids["estate"])
        deadline = datetime.now(timezone.utc) + timedelta(hours=6)
        make_finding(inspector, market.community, site=market, zone=market.zones[2], category_code="poultry_open",
                     status="dispatched", party_kind="market", party_site_id=market.id, deadline=deadline,
                     dispatched_at=datetime.now(timezone.utc), note="活禽区门帘未放下")
        make_finding(inspector, db.session.get(Community, places.ids["wenyuan"]), site=estate, status="dispatched",
                     party_kind="community", party_community_id=places.ids["wenyuan"], deadline=deadline,
                     dispatched_at=datetime.now(timezone.utc), note="楼下散落垃圾未清")
        db.session.commit()
    return places


def test_admin_creates_market_manager_who_must_change_password_and_sees_only_that_market(live, scene, chromium):
    admin = new_context(chromium, live)
    page = admin.new_page()
    log_in(page, "admin1", PASSWORD)
    page.goto("/admin/users/new")
    page.fill("input[name=username]", "huxi-mgr")
    page.fill("input[name=display_name]", "湖西早市管理员")
    market_picker = page.locator("fieldset[data-for-role=manager]")
    expect(market_picker).to_be_hidden()  # only the pickers the chosen roles use are shown
    page.locator("#roles label", has_text="市场管理员").click()
    expect(market_picker).to_be_visible()
    market_picker.locator(".picker-filter").fill("湖西")
    market_picker.locator("label", has_text="湖西早市").click()
    page.click("button[type=submit]")
    temp = page.locator("#temp-password").inner_text().strip()
    assert len(temp) == 10
    page.screenshot(path=str(ARTIFACTS / "admin-temp-password-375.png"), full_page=True)

    page.click("text=我已记下,返回")
    user_path = page.url.replace(live.url, "")

    # CSV import: a bad line is named by its number and nothing is written; a good file goes in.
    page.goto("/admin/places/import")
    page.fill("textarea[name=text]", "街道,社区,点位,类型,纬度,经度\n古楼街道,香江社区,湖西菜市场,市场,36.45,115.98\n"
                                     "古楼街道,,无名点位,市场,36.45,115.98\n")
    page.click("button:has-text('预览')")
    expect(page.locator(".error-list li[data-line='3']")).to_contain_text("缺少社区")
    expect(page.get_by_text("确认导入")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "admin-import-errors-375.png"), full_page=True)
    page.fill("section:has(h2:text('选择文件')) textarea[name=text]",
              "街道,社区,点位,类型,纬度,经度\n古楼街道,香江社区,湖西菜市场,市场,36.45,115.98\n")
    page.click("button:has-text('预览')")
    page.screenshot(path=str(ARTIFACTS / "admin-import-preview-375.png"), full_page=True)
    page.click("text=确认导入这 1 行")
    expect(page.get_by_text("导入完成")).to_be_visible()

    # The market's chat robot, saved and then shown only masked.
    page.goto(f"/admin/places/sites/{scene.ids['market']}#webhook")
    page.fill("input[name=url]", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0b1c2d3e-aaaa-bbbb-cccc-1234567890ab")
    page.click("text=保存群机器人")
    expect(page.get_by_text("https://qyapi.weixin.qq.com/…key=****90ab")).to_be_visible()
    assert "0b1c2d3e" not in page.content()
    for name, path in (("home", "/admin/"), ("users", "/admin/users/"), ("user", user_path),
                       ("places", "/admin/places/"), ("site", f"/admin/places/sites/{scene.ids['market']}"),
                       ("categories", "/admin/categories/"), ("notices", "/admin/notices/"),
                       ("audit", "/admin/audit/"), ("import", "/admin/places/import")):
        shoot(admin, live, name, path)
    admin.close()

    manager = new_context(chromium, live)
    page = manager.new_page()
    log_in(page, "huxi-mgr", temp)
    page.wait_for_url("**/account")
    expect(page.get_by_text("请先设置您自己的密码")).to_be_visible()
    page.goto("/tasks/")
    page.wait_for_url("**/account")  # nothing else until the password is the user's own
    page.screenshot(path=str(ARTIFACTS / "admin-forced-password-375.png"), full_page=True)
    page.fill("input[name=current]", temp)
    page.fill("input[name=new]", "huxi-zaoshi-2025")
    page.fill("input[name=confirm]", "huxi-zaoshi-2025")
    page.click("#password button[type=submit]")
    page.wait_for_url("**/tasks/")
    expect(page.get_by_text("活禽区门帘未放下")).to_be_visible()
    assert "楼下散落垃圾未清" not in page.content()
    reference = page.evaluate("fetch('/api/v1/reference').then(r => r.json())")
    assert [s["name"] for s in reference["sites"]] == ["湖西早市"]
    assert [c["name"] for c in reference["communities"]] == ["香江社区"]
    manager.close()
