"""6. Photo size on the phone: the PWA's own downscaling (static/pwa/js/image.js) on a camera original.

In headless Chromium, on the capture page, the app's ``preparePhoto`` gets a 12-megapixel JPEG as a
phone camera stores it — 4000×3000 pixels turned sideways with EXIF orientation 6 — and must return
a JPEG of at most 450 KB within 2 s, upright. Upright is checked on the output's pixels: the scene
has a red band along its top edge, which must be at the top of the 1200×1600 result. Time is the
call alone (``performance.now()`` around it), median of 3; the bytes are handed in beforehand.
The anchor: a form app that uploads the camera original sends all of it.
"""
from __future__ import annotations

import base64
import io
import statistics

from PIL import Image

from .browser import module_url
from .common import Figure, budget, fmt_kb, fmt_mb, fmt_ms, info, log
from .photos import upright_marker_camera

SECTION = "6 phone photo"
SIZE_LIMIT = 450 * 1024
TIME_LIMIT_MS = 2000

PREPARE = """async ([url, b64]) => {
  const { preparePhoto } = await import(url);
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
  const started = performance.now();
  const out = await preparePhoto(bytes.buffer, "image/jpeg");
  const ms = performance.now() - started;
  let s = "";
  const view = new Uint8Array(out.bytes);
  for (let i = 0; i < view.length; i += 0x8000) s += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return { ms, width: out.width, height: out.height, bytes: btoa(s) };
}"""


def upright(jpeg: bytes) -> tuple[bool, tuple[int, int]]:
    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    w, h = img.size
    top = img.crop((0, 0, w, max(1, h // 20))).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    bottom = img.crop((0, h - h // 20, w, h)).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))

    def red(px) -> bool:
        return px[0] > 170 and px[1] < 80 and px[2] < 80

    return red(top) and not red(bottom) and h > w, (w, h)


def run(page) -> list[Figure]:
    log("downscale: 12 MP camera photo in the page")
    original, (up_w, up_h) = upright_marker_camera(5)
    url = module_url(page, "image.js")
    b64 = base64.b64encode(original).decode()
    results = [page.evaluate(PREPARE, [url, b64]) for _ in range(3)]
    out = base64.b64decode(results[-1]["bytes"])
    ok_upright, size = upright(out)
    ms = statistics.median(r["ms"] for r in results)
    return [
        info(SECTION, "camera original", f"{fmt_mb(len(original))}",
             f"4000×3000 stored, EXIF orientation 6 (upright {up_w}×{up_h})"),
        budget(SECTION, "image.js output size", fmt_kb(len(out)), "≤ 450 KB", len(out) <= SIZE_LIMIT,
               f"{size[0]}×{size[1]}; {len(out) / len(original) * 100:.1f} % of the original's bytes "
               f"(×{len(original) / len(out):.1f} less than uploading the camera file)"),
        budget(SECTION, "image.js time", fmt_ms(ms), "≤ 2 s", ms <= TIME_LIMIT_MS,
               "median of 3: " + ", ".join(f"{r['ms']:,.0f}" for r in results) + " ms"),
        budget(SECTION, "image.js output upright", "yes" if ok_upright else "no", "upright", ok_upright,
               "red band of the scene's top edge is at the top of the output"),
    ]
