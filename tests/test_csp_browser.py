"""In a real browser, under the app's real headers: the service worker registers, a photo picked with
the camera input previews through a blob: URL, fetch reaches the API origin, while inline script and
style attributes are refused (so the policy is really enforced, not merely sent)."""
from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from werkzeug.serving import make_server

from webapp import create_app

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="/probe/probe.css">
<script type="module" src="/probe/probe.js"></script>
</head><body>
<input type="file" id="camera" accept="image/*" capture="environment">
<img id="preview" alt="">
<p id="styled" style="color: rgb(255, 0, 0)">x</p>
<button id="handler" onclick="window.handlerRan = true">x</button>
<script>window.inlineRan = true;</script>
</body></html>"""

SCRIPT = """
window.results = {};
const reg = await navigator.serviceWorker.register('/probe/sw.js', {scope: '/probe/'});
await navigator.serviceWorker.ready;
window.results.sw = (reg.active || reg.waiting || reg.installing) ? 'registered' : 'none';
const res = await fetch('/probe/ping', {method: 'POST'});
window.results.fetch = res.status;
document.getElementById('camera').addEventListener('change', (event) => {
  const url = URL.createObjectURL(event.target.files[0]);
  const img = document.getElementById('preview');
  img.addEventListener('load', () => { window.results.preview = img.naturalWidth + 'x' + img.naturalHeight; });
  img.addEventListener('error', () => { window.results.preview = 'blocked'; });
  img.src = url;
});
window.results.camera = document.featurePolicy ? document.featurePolicy.allowsFeature('camera') : null;
window.results.microphone = document.featurePolicy ? document.featurePolicy.allowsFeature('microphone') : null;
window.results.ready = true;
"""

WORKER = "self.addEventListener('install', () => self.skipWaiting());\n" \
         "self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));\n"


@pytest.fixture
def probe_server(tmp_path):
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "UPLOAD_DIR": str(tmp_path / "uploads")})

    @app.route("/probe/")
    def probe_page():
        return PAGE

    @app.route("/probe/probe.js")
    def probe_js():
        return SCRIPT, 200, {"Content-Type": "text/javascript"}

    @app.route("/probe/sw.js")
    def probe_sw():
        return WORKER, 200, {"Content-Type": "text/javascript"}

    @app.route("/probe/probe.css")
    def probe_css():
        return "#styled { color: rgb(0, 0, 255); }", 200, {"Content-Type": "text/css"}

    @app.route("/probe/ping", methods=["POST"])
    def probe_ping():
        return "", 204

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def test_pwa_features_work_under_the_policy_and_inline_code_does_not(probe_server, tmp_path):
    from playwright.sync_api import sync_playwright

    photo = tmp_path / "photo.jpg"
    buf = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            console = []
            page.on("console", lambda msg: console.append(msg.text))
            page.goto(probe_server + "/probe/")
            page.wait_for_function("() => window.results && window.results.ready === true", timeout=10_000)
            page.set_input_files("#camera", str(photo))
            page.wait_for_function("() => window.results.preview !== undefined", timeout=10_000)
            results = page.evaluate("() => window.results")
            inline_ran = page.evaluate("() => window.inlineRan === true")
            page.click("#handler")
            handler_ran = page.evaluate("() => window.handlerRan === true")
            color = page.evaluate("() => getComputedStyle(document.getElementById('styled')).color")
        finally:
            browser.close()

    assert results["sw"] == "registered"
    assert results["fetch"] == 204
    assert results["preview"] == "64x48"
    if results["camera"] is not None:
        assert results["camera"] is True
        assert results["microphone"] is False
    assert not inline_ran, "inline <script> ran: the CSP is not enforced"
    assert not handler_ran, "onclick ran: the CSP is not enforced"
    assert color == "rgb(0, 0, 255)", "a style= attribute overrode the stylesheet"
    assert any("Content Security Policy" in line for line in console), console
