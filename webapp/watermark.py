"""The 水印相机-style panel (时间, 地点, 督导员) burned into a photo's served 1280 px view. Pillow only, no Flask.

This runs inside the request that attaches a photo to a finding, once per photo, so its CPU is part
of every capture. The panel covers the bottom rows of the picture only, and the clean view it starts
from is written with a restart marker after every row of MCUs (``images.encode_view``): the rows
under the panel are cut out as a small JPEG, decoded, drawn on, encoded with the same tables and put
back (webapp/jpeg_bands.py). The rows above stay bit for bit those of the clean view — no second
generation of JPEG loss there — and decode plus encode cost a fifth of the whole frame's.
A view written another way (before this scheme, or by another encoder) is decoded and encoded whole.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import threading

from PIL import Image, ImageDraw, ImageFont

from . import jpeg_bands
from .images import Rendition, encode_view, sha256_hex

log = logging.getLogger(__name__)

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
# Dark enough that plain white text reads over a sunlit white wall (panel ≈ grey 85 there, contrast
# ~7:1) without an outline: FreeType's stroker made the outlined text cost three times the plain one.
PANEL_ALPHA = 170
_font_path_cache: dict[str, str | None] = {}
_fonts = threading.local()


def find_cjk_font(preferred: str | None = None) -> str | None:
    """A font file with Chinese glyphs: the configured one, known Debian paths, then fontconfig."""
    key = preferred or ""
    if key in _font_path_cache:
        return _font_path_cache[key]
    found = None
    if preferred and os.path.isfile(preferred):
        found = preferred
    for path in FONT_CANDIDATES:
        if found is None and os.path.isfile(path):
            found = path
    if found is None and shutil.which("fc-match"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{file}", "sans-serif:lang=zh-cn"], capture_output=True,
                                 text=True, timeout=5, check=False).stdout.strip()
            if out and os.path.isfile(out) and ("cjk" in out.lower() or "wqy" in out.lower()):
                found = out
        except (OSError, subprocess.SubprocessError):
            pass
    if found is None:
        log.warning("no CJK font found (install fonts-noto-cjk): photo watermarks will lack Chinese glyphs")
    _font_path_cache[key] = found
    return found


def _font(size: int, path: str | None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Loaded once per thread and size: opening the CJK collection costs more than drawing three rows,
    and a FreeType face must not be used by two threads at once."""
    cache = _fonts.__dict__.setdefault("by_key", {})
    key = (size, path)
    if key not in cache:
        cache[key] = _load_font(size, path)
    return cache[key]


def _load_font(size: int, path: str | None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if path:
        try:
            # index 2 of the Noto CJK collection is Simplified Chinese (SC); other files ignore the index.
            return ImageFont.truetype(path, size, index=2 if path.endswith(".ttc") and "Noto" in path else 0)
        except OSError:
            log.warning("cannot load font %s; falling back to Pillow's default", path)
    return ImageFont.load_default(size)


def _wrap(text: str, font, max_width: int) -> list[str]:
    """Break a long place name by characters (Chinese has no spaces to break at)."""
    if font.getlength(text) <= max_width:
        return [text]
    lines, current = [], ""
    for char in text:
        if current and font.getlength(current + char) > max_width:
            lines.append(current)
            current = char
        else:
            current += char
    lines.append(current)
    return lines


class Panel:
    """Where the panel goes and what it says, from the picture's size alone (no pixels needed).

    Sized from the image's long edge so it reads on a phone screen whether the photo is shown
    portrait or landscape."""

    def __init__(self, width: int, height: int, lines: list[tuple[str, str]], font_path: str | None) -> None:
        self.size = size = max(16, round(max(width, height) / 30))
        self.font = font = _font(size, font_path)
        self.pad = pad = round(size * 0.6)
        self.accent = max(4, round(size * 0.22))
        max_text = int(width * 0.82) - 2 * pad - self.accent
        self.label_w = max(font.getlength(label + " ") for label, _ in lines) if lines else 0
        self.rows: list[tuple[str, str]] = []
        for label, value in lines:
            for i, part in enumerate(_wrap(value, font, max(size * 4, int(max_text - self.label_w)))):
                self.rows.append((label if i == 0 else "", part))
        self.line_h = round(size * 1.35)
        text_w = max((self.label_w + font.getlength(value)) for _, value in self.rows) if self.rows else 0
        self.box_w = max(1, int(min(width - pad, text_w + 2 * pad + self.accent)))  # a sliver of a panorama too
        self.box_h = self.line_h * len(self.rows) + 2 * pad - (self.line_h - size)
        self.x0, self.y0 = pad, height - pad - self.box_h

    def draw(self, img: Image.Image, top: int = 0) -> None:
        """Draw into ``img``, whose first row is row ``top`` of the whole picture."""
        x0, y0, size = self.x0, self.y0 - top, self.size
        # An "RGBA" draw on an RGB picture blends its fills in place: no crop, convert and composite.
        draw = ImageDraw.Draw(img, "RGBA")
        draw.rounded_rectangle((x0, y0, x0 + self.box_w, y0 + self.box_h), radius=round(size * 0.4),
                               fill=(0, 0, 0, PANEL_ALPHA))
        draw.rectangle((x0, y0, x0 + self.accent, y0 + self.box_h), fill=(255, 196, 0, 255))
        y = y0 + self.pad - round(size * 0.1)
        for label, value in self.rows:
            x = x0 + self.accent + self.pad
            if label:
                draw.text((x, y), label, font=self.font, fill=(255, 210, 60))
            draw.text((x + self.label_w, y), value, font=self.font, fill=(255, 255, 255))
            y += self.line_h


def watermark(jpeg: bytes, lines: list[tuple[str, str]], *, font_path: str | None = None) -> Rendition:
    """Burn the panel (label, value rows) into the bottom-left of a clean view; the master is never
    watermarked, only this served view. The result is written like a clean view (``encode_view``)."""
    bands = jpeg_bands.parse(jpeg)
    if bands is not None:
        marked = _watermark_bottom_rows(bands, lines, font_path)
        if marked is not None:
            return marked
    img = _decode(jpeg)
    Panel(*img.size, lines, font_path).draw(img)
    return encode_view(img)


def _watermark_bottom_rows(bands: jpeg_bands.Bands, lines, font_path) -> Rendition | None:
    panel = Panel(bands.width, bands.height, lines, font_path)
    # One row of MCUs above the panel as a margin: the band's top row is decoded without the row
    # above it (chroma upsampling at a band edge), so it should carry no panel pixels.
    first = max(0, bands.first_row_at(panel.y0) - 1)
    top = first * bands.mcu_height
    band = _decode(jpeg_bands.assemble(bands.header_for_height(bands.height - top), bands.rows[first:]))
    panel.draw(band, top)
    redone = jpeg_bands.parse(encode_view(band).data)
    # Same tables and layout, or the rows cannot be joined: then the caller encodes the whole frame.
    if redone is None or redone.header_for_height(bands.height) != bands.header:
        log.info("watermark: band encoded with other tables; encoding the whole view instead")
        return None
    data = jpeg_bands.assemble(bands.header, bands.rows[:first] + redone.rows)
    return Rendition(data, sha256_hex(data), bands.width, bands.height)


def _decode(jpeg: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(jpeg), formats=["JPEG"])
    img.load()
    if img.mode != "RGB":
        img = img.convert("RGB")
    img.info = {}  # a private image: nothing of the source's metadata is carried over, and no copy is needed
    return img
