"""Stand-in photos for the demo history: a textured "scene", a shape for the problem, a label.

They go through the real photo pipeline, so they must look like camera output to it (a JPEG of a
plausible size with real texture, not a flat colour that compresses to nothing) while staying small
and quick to make. Everything is drawn from a seeded ``random.Random``: Pillow's own noise effect
uses the C library's generator, which would make two seeding runs produce different bytes.
"""
from __future__ import annotations

import io
import random
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 800, 600  # the drawing canvas
OUTPUT_SIZE = (640, 480)
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
)


@lru_cache(maxsize=4)
def _font(size: int) -> tuple[ImageFont.ImageFont, bool]:
    """A CJK font when the machine has one (``make run`` installs fonts-noto-cjk); else Pillow's own."""
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size), True
    return ImageFont.load_default(size=size), False


def _texture(rng: random.Random, base: tuple[int, int, int]) -> Image.Image:
    """Blotchy ground/wall texture: coarse noise, enlarged and tinted, plus a little fine grain."""
    coarse = Image.frombytes("L", (100, 75), rng.randbytes(100 * 75)).resize((WIDTH, HEIGHT), Image.BILINEAR)
    fine = Image.frombytes("L", (400, 300), rng.randbytes(400 * 300)).resize((WIDTH, HEIGHT), Image.NEAREST)
    grain = Image.blend(coarse, fine, 0.25)
    tint = Image.new("RGB", (WIDTH, HEIGHT), base)
    return Image.composite(tint, Image.new("RGB", (WIDTH, HEIGHT), tuple(max(0, c - 60) for c in base)), grain)


def _boxes(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:  # crates, tables outside a shop
    for _ in range(rng.randint(3, 6)):
        x, y = rng.randint(80, 600), rng.randint(260, 430)
        w, h = rng.randint(60, 140), rng.randint(50, 110)
        colour = rng.choice([(176, 40, 40), (40, 90, 170), (210, 160, 40), (90, 90, 90)])
        draw.rectangle((x, y, x + w, y + h), fill=colour, outline=(20, 20, 20), width=3)


def _pile(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:  # timber, rubble, a heap
    cx, cy = rng.randint(300, 500), rng.randint(330, 400)
    points = [(cx + rng.randint(-230, 230), cy + rng.randint(-110, 90)) for _ in range(9)]
    draw.polygon(sorted(points, key=lambda p: p[0]), fill=(120, 84, 50), outline=(60, 40, 20))
    for _ in range(8):
        x, y = cx + rng.randint(-200, 200), cy + rng.randint(-60, 60)
        draw.line((x, y, x + rng.randint(-120, 120), y + rng.randint(-30, 30)), fill=(150, 110, 60), width=9)


def _scatter(draw: ImageDraw.ImageDraw, rng: random.Random, colours) -> None:  # litter, leaves
    for _ in range(rng.randint(25, 60)):
        x, y = rng.randint(20, 780), rng.randint(220, 560)
        r = rng.randint(5, 18)
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=rng.choice(colours))


def _bin(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:  # an overflowing bin
    x = rng.randint(250, 420)
    draw.rectangle((x, 250, x + 160, 470), fill=(30, 110, 60), outline=(10, 40, 20), width=4)
    for _ in range(14):
        bx, by = x + rng.randint(-40, 180), rng.randint(200, 260)
        draw.ellipse((bx, by, bx + rng.randint(30, 60), by + rng.randint(20, 45)),
                     fill=rng.choice([(230, 230, 230), (40, 40, 40), (200, 60, 60)]))


def _posters(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:  # flyposting on a wall
    for _ in range(rng.randint(4, 9)):
        x, y = rng.randint(40, 660), rng.randint(60, 360)
        draw.rectangle((x, y, x + rng.randint(60, 120), y + rng.randint(80, 150)),
                       fill=rng.choice([(250, 250, 240), (255, 230, 80), (240, 120, 120)]), outline=(90, 90, 90))


PAINTERS = {
    "shop_outside": _boxes, "frontage_duties": _boxes, "small_shop_hygiene": _boxes, "market_zoning": _boxes,
    "clutter": _pile, "illegal_structure": _pile, "road_damage": _pile,
    "litter": lambda d, r: _scatter(d, r, [(235, 235, 235), (60, 60, 60), (200, 50, 50), (50, 120, 200)]),
    "leaves_water": lambda d, r: _scatter(d, r, [(196, 150, 40), (160, 110, 30), (120, 140, 40)]),
    "pests": lambda d, r: _scatter(d, r, [(20, 20, 20), (50, 40, 30)]),
    "bin_overflow": _bin, "toilet": _bin, "sewer_blocked": _bin,
    "flyposting": _posters, "hanging": _posters, "noticeboard_missing": _posters,
}


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def demo_photo(seed: str, title: str, subtitle: str, *, category_code: str | None, after: bool,
               taken_at: datetime | None = None) -> bytes:
    """Return JPEG bytes for one demo photo; the same arguments always give the same bytes.

    ``after`` draws the same place cleaned up (no problem shape, a green check band), as a
    rectification photo would show it. ``taken_at`` (aware, in the camera's zone) is written as EXIF
    DateTimeOriginal + OffsetTimeOriginal, as a phone camera does, so the pipeline's "taken before
    dispatch" check sees the demo's own clock.
    """
    rng = random.Random(seed)
    ground = rng.choice([(150, 150, 140), (170, 160, 140), (130, 140, 130), (160, 150, 150)])
    image = _texture(rng, (120, 170, 110) if after else ground)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 200), fill=(190, 200, 210))  # sky / wall above the ground line
    if after:
        draw.rounded_rectangle((260, 300, 540, 420), radius=24, outline=(255, 255, 255), width=10)
        draw.line((330, 360, 390, 400, 480, 320), fill=(255, 255, 255), width=16)
    elif category_code:
        PAINTERS.get(category_code, _pile)(draw, rng)
    # Drawn at 800x600, saved at 640x480: the downscale softens the hard edges as a lens would, and
    # the pipeline handles a smaller picture about three times faster (seeding must stay quick).
    image = image.resize(OUTPUT_SIZE, Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    width, height = OUTPUT_SIZE
    font, cjk = _font(26)
    small, _ = _font(19)
    # The label goes at the top: the pipeline burns its own time/place watermark into the bottom left.
    draw.rectangle((0, 0, width, 76), fill=(0, 0, 0))
    if not cjk:  # Pillow's built-in font has no Chinese glyphs: keep the label legible, not tofu
        title, subtitle = title.encode("ascii", "replace").decode(), subtitle.encode("ascii", "replace").decode()
    draw.text((14, 6), _fit(draw, title, font, width - 28), font=font, fill=(255, 255, 255))
    draw.text((14, 44), _fit(draw, subtitle, small, width - 28), font=small, fill=(220, 220, 220))
    exif = Image.Exif()
    if taken_at is not None:
        offset = taken_at.strftime("%z")
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeOriginal] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
        sub[ExifTags.Base.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82, exif=exif)
    return out.getvalue()
