"""Helpers for the browser tests: driving the capture app and reading its IndexedDB."""
from __future__ import annotations

import base64
import io
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "correct-horse-42"
# 湖西早市, roughly where the seed page puts it (聊城, 古楼街道): the GPS fix of the tests.
MARKET_LAT, MARKET_LON = 36.4563, 115.9846


def wait_until(check, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}; last value: {last!r}")


def login(page, username: str = "insp") -> None:
    login_to(page, "/capture/", username)


def login_to(page, path: str, username: str, *, remember: bool = True) -> None:
    """Log in through the form (remembered, as on a phone, unless told otherwise) and wait until the
    page at ``path`` is ready."""
    page.goto(f"/login?next={path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    if remember:
        page.check("input[name=remember]")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}**")
    wait_app_ready(page)


def wait_app_ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']")


def wait_offline_ready(page) -> None:
    """The service worker controls the page and has the capture page itself in its cache."""
    page.evaluate("navigator.serviceWorker.ready")
    wait_until(lambda: page.evaluate("""async () => {
        if (!navigator.serviceWorker.controller) return false;
        for (const name of await caches.keys()) {
            if (await (await caches.open(name)).match('/capture/')) return true;
        }
        return false;
    }"""), message="the capture page in the service worker cache")


def app_module(page, name: str) -> str:
    """URL of one of the app's own modules, for page.evaluate(import(...))."""
    return page.evaluate(f"document.querySelector('script[src*=\"/js/app.js\"]').src.replace('app.js', '{name}')")


def outbox_items(page) -> list[dict]:
    return page.evaluate("""async (url) => {
        const outbox = await import(url);
        return (await outbox.list()).map((i) => ({
            id: i.id, state: i.state, error: i.error, serverStatus: i.serverStatus, kind: i.kind,
            body: i.request.body,
            photos: i.photos.map((p) => ({ id: p.id, sha256: p.sha256, uploaded: p.uploaded, size: p.size })),
        }));
    }""", app_module(page, "outbox.js"))


def stored_photo(page, photo_id: str) -> bytes | None:
    """The bytes IndexedDB holds for a photo (draft or outbox)."""
    encoded = page.evaluate("""async ([url, id]) => {
        const { run, req } = await import(url);
        const rec = await run(['photos'], 'readonly', (tx) => req(tx.objectStore('photos').get(id)));
        if (!rec) return null;
        let s = ''; const bytes = new Uint8Array(rec.bytes);
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
    }""", [app_module(page, "db.js"), photo_id])
    return base64.b64decode(encoded) if encoded else None


def draft(page) -> dict | None:
    return page.evaluate("""async (url) => (await import(url)).kvGet('draft')""", app_module(page, "db.js"))


def jpeg(seed: int, size: tuple[int, int] = (1200, 900), orientation: int | None = None) -> bytes:
    """A camera-like JPEG whose pixels depend on seed (so every photo hashes differently)."""
    width, height = size
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(img)
    step = max(8, width // 40)
    for i in range(0, width, step):
        shade = (seed * 53 + i) % 255
        draw.rectangle((i, (seed * 37) % height, i + step // 2, height), fill=(shade, 120, 255 - shade))
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def add_photos(page, photos: list[bytes], input_id: str = "xc-camera") -> None:
    before = len((draft(page) or {}).get("photos", []))
    page.set_input_files(f"#{input_id}", files=[
        {"name": f"IMG_{i}.jpg", "mimeType": "image/jpeg", "buffer": data} for i, data in enumerate(photos)
    ])
    wait_until(lambda: (lambda d: d and len(d["photos"]) == before + len(photos)
                        and all(p["state"] == "ready" for p in d["photos"]))(draft(page)),
               message="photos stored and downscaled")


def capture_problem(page, photos: list[bytes], category: str = "散落垃圾", community: str | None = None) -> str:
    """One problem capture through the UI; returns the new finding's id once the page said 已保存."""
    if "#capture" not in page.url:
        page.click("[data-nav='capture']")
    draft_id = draft(page)["id"]
    add_photos(page, photos)
    if community:
        page.select_option("#xc-community", label=community)
    button = page.locator(f"#xc-categories button:has-text('{category}')")
    if not button.is_visible():
        page.click("#xc-more-cats")
    button.click()
    page.click("#xc-save")
    # The previous capture's 已保存 toast may still be up (it stays 3.5 s): the outbox is the real signal.
    wait_until(lambda: any(item["id"] == draft_id for item in outbox_items(page)), message="the capture in the outbox")
    page.wait_for_selector("#xc-toast:not([hidden]):has-text('已保存')")
    assert draft(page)["id"] != draft_id, "a fresh draft follows a saved capture"
    return draft_id


def shot(page, name: str, full_page: bool = False) -> None:
    """Screenshots for a human to look at (test-artifacts/ is not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
