"""Debian's Chromium, headless, as a phone: the same flags and viewport as the browser tests."""
from __future__ import annotations

import re
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
DEMO_PASSWORD = "demo12345"


def launch(pw, profile: Path, base_url: str):
    """A persistent profile (IndexedDB, service worker and caches survive a relaunch, as on a phone)."""
    context = pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=ARGS, headless=True, base_url=base_url,
        permissions=["geolocation"], geolocation={"latitude": 36.4489, "longitude": 115.9712, "accuracy": 12},
        **PHONE)
    context.set_default_timeout(30000)
    return context


def login(context, username: str = "inspector") -> None:
    """Log in with the form's own POST through the context's cookie jar, without loading a page, so
    the first page load afterwards starts with an empty HTTP cache."""
    form = context.request.get("/login").text()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form) or \
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    response = context.request.post("/login", form={
        "username": username, "password": DEMO_PASSWORD, "remember": "y", "csrf_token": token.group(1), "next": "",
    }, max_redirects=0)
    if response.status not in (302, 303):
        raise RuntimeError(f"login failed: {response.status} {response.text()[:300]}")


def page_of(context):
    return context.pages[0] if context.pages else context.new_page()


def wait_ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']")


def wait_offline_ready(page, timeout: float = 30) -> None:
    """The service worker controls the page and its cache holds the capture page."""
    page.evaluate("navigator.serviceWorker.ready")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate("""async () => {
            if (!navigator.serviceWorker.controller) return false;
            for (const name of await caches.keys()) {
                if (await (await caches.open(name)).match('/capture/')) return true;
            }
            return false;
        }"""):
            return
        time.sleep(0.1)
    raise RuntimeError("the service worker never held the capture page")


def module_url(page, name: str) -> str:
    """URL of one of the app's own ES modules (served under /shell/<version>/js/)."""
    return page.evaluate(f"document.querySelector('script[src*=\"/js/app.js\"]').src.replace('app.js', '{name}')")
