"""Synthetic photos for the benchmarks: camera-like JPEGs made in memory, never files from the web.

A flat or purely random picture would flatter or punish the JPEG codec, so these have what street
photos have: smooth light gradients, hard edges (shop fronts, kerbs, posters), and sensor noise.
Each photo depends on its seed, so every upload has its own bytes and its own hashes.
"""
from __future__ import annotations

import io
import random
from functools import lru_cache

from PIL import Image, ImageDraw

TAG_ORIENTATION = 0x0112


@lru_cache(maxsize=4)
def _noise(width: int, height: int, sigma: int) -> Image.Image:
    """One noise field per size, cropped per photo: ``effect_noise`` is the slowest part of a photo."""
    return Image.effect_noise((width + 256, height + 256), sigma).convert("RGB")


def scene(seed: int, size: tuple[int, int], *, noise: float, shapes: int = 60) -> Image.Image:
    """Gradient sky/street, filled and outlined blocks, lines, and noise blended in at ``noise``."""
    rnd = random.Random(seed)
    width, height = size
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", size, tuple(rnd.randrange(60, 200) for _ in range(3)))
    img = Image.blend(img, tint, 0.4)
    draw = ImageDraw.Draw(img)
    scale = width / 1600
    for _ in range(shapes):
        x, y = rnd.randrange(width), rnd.randrange(height)
        w, h = int(rnd.randrange(20, 300) * scale), int(rnd.randrange(20, 200) * scale)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        fill = tuple(rnd.randrange(256) for _ in range(3)) if rnd.random() < 0.4 else None
        draw.rectangle((x, y, x + w, y + h), outline=colour, width=max(1, int(rnd.randrange(1, 6) * scale)),
                       fill=fill)
    for _ in range(shapes // 2):
        draw.line((rnd.randrange(width), rnd.randrange(height), rnd.randrange(width), rnd.randrange(height)),
                  fill=tuple(rnd.randrange(256) for _ in range(3)), width=max(1, int(rnd.randrange(1, 5) * scale)))
    field = _noise(width, height, 40)
    dx, dy = rnd.randrange(256), rnd.randrange(256)
    return Image.blend(img, field.crop((dx, dy, dx + width, dy + height)), noise)


def encode(img: Image.Image, quality: int, orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    kwargs = {}
    if orientation:
        exif = Image.Exif()
        exif[TAG_ORIENTATION] = orientation
        kwargs["exif"] = exif.tobytes()
    img.save(out, "JPEG", quality=quality, **kwargs)
    return out.getvalue()


def phone_upload(seed: int) -> bytes:
    """What the PWA sends: 1600×1200, quality 0.8, no metadata, ~300–400 KB."""
    return encode(scene(seed, (1600, 1200), noise=0.16), 80)


def phone_uploads(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct phone uploads, cheaply: crops at different offsets of a few larger scenes
    (a shifted crop changes every 8×8 block, so each file and each hash is new)."""
    out: list[bytes] = []
    rnd = random.Random(seed)
    base = None
    for i in range(count):
        if i % 16 == 0:
            base = scene(seed * 1000 + i, (1900, 1420), noise=0.14, shapes=85)
        dx, dy = rnd.randrange(300), rnd.randrange(220)
        out.append(encode(base.crop((dx, dy, dx + 1600, dy + 1200)), 80))
    return out


def big_camera(seed: int) -> bytes:
    """A 24-megapixel (6000×4000) camera JPEG with EXIF orientation 6, as a script might upload."""
    return encode(scene(seed, (6000, 4000), noise=0.12, shapes=120), 90, orientation=6)


def upright_marker_camera(seed: int) -> tuple[bytes, tuple[int, int]]:
    """A 12-megapixel phone-camera JPEG stored sideways (4000×3000 sensor, EXIF orientation 6).

    The upright scene (3000×4000, portrait) has a pure red band along its top edge; the pixels are
    rotated the way a phone held upright stores them, and orientation 6 says how to turn them back.
    Returns the bytes and the upright size.
    """
    upright = scene(seed, (3000, 4000), noise=0.10, shapes=120)
    ImageDraw.Draw(upright).rectangle((0, 0, 3000, 300), fill=(230, 0, 0))
    # Orientation 6 means "rotate 90° clockwise to view": the stored pixels are the upright ones
    # turned 90° counter-clockwise.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    return encode(stored, 92, orientation=6), upright.size
