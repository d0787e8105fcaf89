"""What the service worker downloads and keeps, in a real Chromium. The install takes the capture page
the window has just loaded as a 304 and the capture page's files from the HTTP cache, and none of the
desk's or the parties' modules; a task page kept before the worker controlled it is kept with its own
files; any other file of the version is kept the first time a controlled page loads it."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.browser.conftest import Browser
from tests.browser.helpers import login, login_to, wait_offline_ready, wait_until
from tests.factories import make_user
from webapp.extensions import db
from webapp.models import Site

pytestmark = pytest.mark.browser


def requests_since(live, offset: int) -> list[tuple[str, str, int]]:
    """(method, path, status) of each request the server logged after ``offset`` characters of its log."""
    return [(m[1], m[2], int(m[3])) for m in
            re.finditer(r"\] (GET|POST|PUT|HEAD|DELETE) (\S+) (\d{3})$", live.log()[offset:], re.M)]


def held(page) -> set[str]:
    """Every path the service worker's caches hold."""
    return set(page.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
        }
        return urls;
    }"""))


def shell_prefix(page) -> str:
    return page.evaluate("new URL('./', document.querySelector('script[src*=\"/js/shell.js\"]').src).pathname")


def test_the_worker_keeps_each_page_with_its_files_and_downloads_nothing_twice(
        browser, live, data_app, playwright_instance, tmp_path):
    # 1. An inspector's first visit: the page loads, then the worker installs under it.
    offset = len(live.log())
    page = browser.page()
    login(page)
    wait_offline_ready(page)
    js = shell_prefix(page)
    wait_until(lambda: f"{js}place.js" in held(page), message="the capture page's files precached")
    sent = requests_since(live, offset)
    assert [status for method, path, status in sent if path == "/capture/"] == [200, 304]
    # Each file downloaded once: the install took them from the HTTP cache (app.css, which the login page
    # loaded before the session cookie changed, may be revalidated: a 304, no body).
    shell_gets = Counter(path for method, path, status in sent
                         if path.startswith(js.rsplit("/js/", 1)[0]) and status == 200)
    assert shell_gets and max(shell_gets.values()) == 1, shell_gets
    assert f"{js}tasks.js" not in shell_gets and f"{js}review.js" not in shell_gets
    kept = held(page)
    assert {f"{js}app.js", f"{js}capture.js", f"{js}sync.js", "/capture/", "/offline"} <= kept
    assert not {f"{js}tasks.js", f"{js}countdown.js", f"{js}review.js", f"{js}admin.js"} & kept

    # 2. 待核查, opened under the worker: the page and the modules only it needs are kept as they load.
    page.goto("/tasks/verify")
    page.wait_for_selector("body[data-ready='1']")
    wait_until(lambda: {"/tasks/verify", f"{js}tasks.js", f"{js}countdown.js"} <= held(page),
               message="待核查 kept with tasks.js and countdown.js")
    assert f"{js}review.js" not in held(page)

    # 3. A market manager's first visit, on another phone: 我的任务 loads before any worker controls it,
    #    and is kept with its own files, which come from the HTTP cache, not from the server again.
    with data_app.app_context():
        make_user("mgr", roles=("manager",), sites=[db.session.get(Site, live.places.ids["market"])])
        db.session.commit()
        db.session.remove()
    other = Browser(playwright_instance, tmp_path / "manager-profile", live.url)
    other.launch()
    try:
        offset = len(live.log())
        page = other.page()
        login_to(page, "/tasks/", "mgr", remember=False)
        js = shell_prefix(page)
        wait_until(lambda: page.evaluate("Boolean(navigator.serviceWorker.controller)")
                   and {"/tasks/", f"{js}tasks.js", f"{js}countdown.js"} <= held(page),
                   message="我的任务 kept with tasks.js and countdown.js")
        sent = requests_since(live, offset)
        assert [status for method, path, status in sent if path == f"{js}tasks.js"] == [200]
        assert "/capture/" not in held(page)  # an inspector's page: the install asked, the server refused
    finally:
        other.close()


def test_the_browser_reads_the_manifest_with_the_users_cookie(browser, live, data_app):
    """The page's own manifest fetch (what an install is named from) carries the session: an English
    user's phone installs "Xuncha", not "巡查"."""
    with data_app.app_context():
        make_user("insp_en").locale = "en"
        db.session.commit()
        db.session.remove()
    page = browser.page()
    manifests = []
    page.on("response", lambda r: manifests.append(r) if r.url.endswith("/manifest.webmanifest") else None)
    login(page, "insp_en")
    on_capture = wait_until(lambda: [r for r in manifests if "/capture/" in (r.request.headers.get("referer") or "")],
                            message="the capture page fetched its manifest")
    assert on_capture[-1].json()["name"] == "Xuncha" and on_capture[-1].json()["lang"] == "en"
