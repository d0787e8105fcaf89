"""Generate the PWA icons once: `python -m webapp.pwa.icons` (the PNGs are committed, so no font is
needed at run time). A white 巡 on the brand green; the maskable variant keeps the glyph inside the
central 80% "safe zone" that Android may crop to a circle or squircle."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = (11, 110, 79)
OUT = Path(__file__).resolve().parent.parent.parent / "static" / "pwa" / "icons"
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
FONT_INDEX_SC = 2  # the .ttc holds JP, KR, SC, TC, HK faces in this order


def render(size: int, *, glyph_ratio: float, rounded: bool) -> Image.Image:
    # Draw at 4x and downsample: Pillow's text and rounded corners are not anti-aliased enough at 192 px.
    big = size * 4
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if rounded:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=int(big * 0.22), fill=BRAND)
    else:
        draw.rectangle((0, 0, big, big), fill=BRAND)
    font = ImageFont.truetype(FONT, int(big * glyph_ratio), index=FONT_INDEX_SC)
    left, top, right, bottom = draw.textbbox((0, 0), "巡", font=font)
    x = (big - (right - left)) / 2 - left
    y = (big - (bottom - top)) / 2 - top
    draw.text((x, y), "巡", font=font, fill="white")
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    specs = {
        "icon-192.png": (192, 0.62, True),
        "icon-512.png": (512, 0.62, True),
        # Maskable icons must be full-bleed and opaque; the launcher supplies the shape.
        "maskable-512.png": (512, 0.46, False),
        # iOS rounds the corners itself and shows transparency as black.
        "apple-touch-icon.png": (180, 0.6, False),
    }
    for name, (size, ratio, rounded) in specs.items():
        img = render(size, glyph_ratio=ratio, rounded=rounded)
        if not rounded:
            img = img.convert("RGB")
        img.save(OUT / name, optimize=True)
        print(f"{name}: {(OUT / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
