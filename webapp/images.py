"""The photo pipeline: bytes in, bytes and metadata out. Pillow only, no Flask.

A phone's upload is untrusted input that ends up in front of desk staff and in the daily report, so it
is opened with a format allow-list, decoded completely (``verify()`` passes a truncated JPEG), bounded
in pixels (a decompression bomb is an error, not a warning), turned upright and re-encoded: nothing of
the original file — EXIF, GPS, XMP, comments, ICC — survives into a stored file. The GPS position lives
in the database, where the scope rules guard it.

Memory matters more than speed on a small server: a 24-megapixel JPEG decodes to 72 MB. ``draft()``
lets libjpeg decode straight at 1/2, 1/4 or 1/8 scale, so we ask for the smallest scale that still
covers the master size, orient the *small* image afterwards and derive the view and thumbnail from it.
``naive_pipeline`` (orient the full image, no draft) is kept for the benchmark that justifies this.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import struct
import subprocess
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

try:  # Pillow's own colour management; present in the PyPI wheels.
    from PIL import ImageCms
except ImportError:  # pragma: no cover - a Pillow built without littlecms
    ImageCms = None

try:  # HEIC/HEIF from iPhones arriving through scripts; the PWA always sends JPEG.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - optional plugin
    HEIF_SUPPORTED = False

log = logging.getLogger(__name__)
Image.init()  # register every plugin now: an allow-list naming MPO needs the MPO plugin loaded

MASTER_MAX_EDGE = 1600  # the PWA downscales to this too, so every stored master has one size limit
DRAFT_SLACK = 0.9
VIEW_MAX_EDGE = 1280
THUMB_MAX_EDGE = 320
MASTER_QUALITY = 90
VIEW_QUALITY = 85
THUMB_QUALITY = 80

# MIME type → the Pillow formats that may decode it. Phone JPEGs with a depth map open as MPO.
FORMATS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("JPEG", "MPO"),
    "image/png": ("PNG",),
    "image/webp": ("WEBP",),
}
if HEIF_SUPPORTED:
    FORMATS_BY_TYPE["image/heic"] = ("HEIF",)
    FORMATS_BY_TYPE["image/heif"] = ("HEIF",)

HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}

# EXIF orientation → the transpose that makes the pixels upright (same table as ImageOps.exif_transpose).
ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TAG_ORIENTATION = 0x0112
IFD_EXIF = 0x8769
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME_ORIGINAL = 0x9011


class ImageError(Exception):
    """The upload is not an image we accept; ``code`` tells the caller which answer to give."""

    code = "invalid_image"


class UnsupportedImage(ImageError):
    code = "unsupported_media_type"


class CorruptImage(ImageError):
    code = "corrupt_image"


class DecompressionBomb(ImageError):
    code = "decompression_bomb"


@dataclass(frozen=True)
class Rendition:
    data: bytes
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class Processed:
    master: Rendition
    view: Rendition
    thumb: Rendition
    source_format: str
    source_width: int  # upright size of what the phone sent
    source_height: int
    phash: str
    # Aware when the camera recorded its UTC offset, else naive local time (the caller knows the zone).
    taken_at: datetime | None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sniff(data: bytes) -> str | None:
    """The MIME type the bytes really are (by magic number), or None when it is none we know."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "image/heic"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head.startswith(b"%PDF"):
        return "application/pdf"
    if head[:2] == b"BM":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def normalise_type(content_type: str | None) -> str:
    """``image/JPEG; charset=x`` → ``image/jpeg``; ``image/jpg`` and ``image/heif`` are common aliases."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/heif": "image/heic"}.get(value, value)


def check_type(data: bytes, declared: str | None) -> str:
    """Return the accepted MIME type, or raise ``UnsupportedImage`` for an unsupported or disguised body."""
    declared = normalise_type(declared)
    if declared not in FORMATS_BY_TYPE:
        raise UnsupportedImage(f"unsupported content type {declared or '(none)'}")
    actual = sniff(data)
    if actual is None:
        raise UnsupportedImage("the body is not a known image format")
    if actual != normalise_type(declared):
        raise UnsupportedImage(f"declared {declared} but the body is {actual}")
    return declared


def _open(data: bytes, formats: tuple[str, ...], max_pixels: int) -> Image.Image:
    """Open lazily with the allow-list and the pixel bound; decompression-bomb warnings become errors."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=list(formats))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise CorruptImage("cannot identify the image") from exc
    except (OSError, ValueError, SyntaxError, EOFError, KeyError, struct.error) as exc:
        raise CorruptImage(str(exc) or "unreadable image") from exc


def _load(img: Image.Image) -> None:
    """Decode every byte now: a truncated or damaged file must fail here, before anything is stored."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(str(exc)) from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise CorruptImage(str(exc) or "truncated or damaged image") from exc


def read_exif(img: Image.Image) -> tuple[int, datetime | None]:
    """Orientation (1 when absent or nonsense) and DateTimeOriginal; a broken EXIF block is ignored."""
    try:
        exif = img.getexif()
        orientation = int(exif.get(TAG_ORIENTATION, 1) or 1)
        sub = exif.get_ifd(IFD_EXIF)
        raw = sub.get(TAG_DATETIME_ORIGINAL) or exif.get(0x0132)
        offset = sub.get(TAG_OFFSET_TIME_ORIGINAL)
    except Exception:  # noqa: BLE001 - a camera's EXIF is untrusted and often malformed
        return 1, None
    if orientation not in ORIENTATION_FIX:
        orientation = 1
    return orientation, _parse_exif_time(raw, offset)


def _parse_exif_time(raw, offset) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        taken = datetime.strptime(raw.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str) and len(offset.strip()) == 6 and offset.strip()[0] in "+-":
        text = offset.strip()
        try:
            minutes = int(text[1:3]) * 60 + int(text[4:6])
        except ValueError:
            return taken
        sign = -1 if text[0] == "-" else 1
        taken = taken.replace(tzinfo=timezone(sign * timedelta(minutes=minutes)))
    return taken


def _fit(width: int, height: int, max_edge: int) -> tuple[int, int]:
    """Size with the long edge at most ``max_edge`` and the aspect ratio kept."""
    scale = min(1.0, max_edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_srgb_rgb(img: Image.Image) -> Image.Image:
    """RGB in sRGB on white: the profile (Display P3 on iPhones) is applied, then dropped with the rest."""
    icc = img.info.get("icc_profile")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        img = background
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if icc and ImageCms is not None:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            img = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: keep the pixels as they are
    return img


def encode_jpeg(img: Image.Image, quality: int) -> Rendition:
    """Encode with no metadata at all: ``info`` is cleared so not even a JPEG comment is carried over."""
    img = img.copy() if img.info else img
    img.info = {}
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True, progressive=img.width * img.height > 300_000)
    data = buf.getvalue()
    return Rendition(data, sha256_hex(data), img.width, img.height)


def dhash(img: Image.Image) -> str:
    """64-bit difference hash as 16 hex digits: near-identical pictures (a re-used photo) differ in few bits."""
    small = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (pixels[row * 9 + col] > pixels[row * 9 + col + 1])
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def process(data: bytes, content_type: str, *, max_pixels: int,
            master_edge: int = MASTER_MAX_EDGE) -> Processed:
    """Validate an upload and make its three clean renditions (master, 1280 view, 320 thumbnail).

    Raises ``UnsupportedImage`` (wrong or disguised type), ``DecompressionBomb`` or ``CorruptImage``.
    """
    declared = check_type(data, content_type)
    img = _open(data, FORMATS_BY_TYPE[declared], max_pixels)
    source_format = img.format or ""
    orientation, taken_at = read_exif(img)
    raw_w, raw_h = img.size
    if img.format in ("JPEG", "MPO"):
        # Aspect-correct request: libjpeg decodes at the smallest 1/n scale that covers it. Asking for
        # 90 % of the master edge lets a 6000 px photo decode at 1/4 (1500 px, 6 MB) instead of 1/2
        # (3000 px, 24 MB) for a master 6 % smaller; a master is never upscaled.
        img.draft("RGB", _fit(raw_w, raw_h, int(master_edge * DRAFT_SLACK)))
    _load(img)
    img = _to_srgb_rgb(img)
    target = _fit(*img.size, master_edge)
    if img.size != target:
        img = img.resize(target, Image.Resampling.LANCZOS)
    fix = ORIENTATION_FIX.get(orientation)
    if fix is not None:
        img = img.transpose(fix)
    return _renditions(img, source_format, orientation, raw_w, raw_h, taken_at)


def _renditions(master_img: Image.Image, source_format: str, orientation: int, raw_w: int, raw_h: int,
                taken_at: datetime | None) -> Processed:
    master = encode_jpeg(master_img, MASTER_QUALITY)
    view_img = master_img.resize(_fit(*master_img.size, VIEW_MAX_EDGE), Image.Resampling.LANCZOS) \
        if max(master_img.size) > VIEW_MAX_EDGE else master_img
    thumb_img = view_img.resize(_fit(*view_img.size, THUMB_MAX_EDGE), Image.Resampling.LANCZOS) \
        if max(view_img.size) > THUMB_MAX_EDGE else view_img
    upright = (raw_h, raw_w) if orientation in (5, 6, 7, 8) else (raw_w, raw_h)
    return Processed(
        master=master,
        view=encode_jpeg(view_img, VIEW_QUALITY),
        thumb=encode_jpeg(thumb_img, THUMB_QUALITY),
        source_format=source_format,
        source_width=upright[0],
        source_height=upright[1],
        phash=dhash(thumb_img),
        taken_at=taken_at,
    )


def naive_pipeline(data: bytes, content_type: str, *, max_pixels: int,
                   master_edge: int = MASTER_MAX_EDGE) -> Processed:
    """The obvious way (full decode, ``exif_transpose`` on the full image): kept only as the benchmark baseline."""
    declared = check_type(data, content_type)
    img = _open(data, FORMATS_BY_TYPE[declared], max_pixels)
    source_format = img.format or ""
    orientation, taken_at = read_exif(img)
    raw_w, raw_h = img.size
    _load(img)
    img = ImageOps.exif_transpose(img)
    img = _to_srgb_rgb(img)
    img = img.resize(_fit(*img.size, master_edge), Image.Resampling.LANCZOS)
    return _renditions(img, source_format, orientation, raw_w, raw_h, taken_at)


# --- watermark -------------------------------------------------------------------------------------

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
_font_path_cache: dict[str, str | None] = {}


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
    if path:
        try:
            # index 2 of the Noto CJK collection is Simplified Chinese (SC); other files ignore the index.
            return ImageFont.truetype(path, size, index=2 if path.endswith(".ttc") and "Noto" in path else 0)
        except OSError:
            log.warning("cannot load font %s; falling back to Pillow's default", path)
    return ImageFont.load_default(size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, max_width: int) -> list[str]:
    """Break a long place name by characters (Chinese has no spaces to break at)."""
    lines, current = [], ""
    for char in text:
        if current and draw.textlength(current + char, font=font) > max_width:
            lines.append(current)
            current = char
        else:
            current += char
    lines.append(current)
    return lines


def watermark(jpeg: bytes, lines: list[tuple[str, str]], *, font_path: str | None = None) -> Rendition:
    """Burn a 水印相机-style panel (label, value rows) into the bottom-left of a view image.

    Sized from the image's long edge so it reads on a phone screen whether the photo is shown
    portrait or landscape; the master is never watermarked, only this served view.
    """
    img = Image.open(io.BytesIO(jpeg), formats=["JPEG"])
    img.load()
    img = img.convert("RGB")  # also a private copy: the panel is pasted into it
    w, h = img.size
    size = max(16, round(max(w, h) / 30))
    font = _font(size, font_path)
    pad = round(size * 0.6)
    accent = max(4, round(size * 0.22))
    draw = ImageDraw.Draw(img)
    max_text = int(w * 0.82) - 2 * pad - accent
    label_w = max(draw.textlength(label + " ", font=font) for label, _ in lines) if lines else 0
    rows: list[tuple[str, str]] = []
    for label, value in lines:
        for i, part in enumerate(_wrap(draw, value, font, max(size * 4, int(max_text - label_w)))):
            rows.append((label if i == 0 else "", part))
    line_h = round(size * 1.35)
    text_w = max((label_w + draw.textlength(value, font=font)) for _, value in rows) if rows else 0
    box_w = int(min(w - pad, text_w + 2 * pad + accent))
    box_h = line_h * len(rows) + 2 * pad - (line_h - size)
    x0, y0 = pad, h - pad - box_h
    # Blend only the panel's rectangle: converting and compositing the whole frame cost more than the
    # text (this runs inside the finding's PUT, once per photo); the pixels come out the same.
    region = (x0, y0, x0 + box_w + 1, y0 + box_h + 1)
    patch = img.crop(region).convert("RGBA")
    overlay = Image.new("RGBA", patch.size, (0, 0, 0, 0))
    over = ImageDraw.Draw(overlay)
    over.rounded_rectangle((0, 0, box_w, box_h), radius=round(size * 0.4), fill=(0, 0, 0, 150))
    over.rectangle((0, 0, accent, box_h), fill=(255, 196, 0, 255))
    img.paste(Image.alpha_composite(patch, overlay).convert("RGB"), region[:2])
    draw = ImageDraw.Draw(img)
    y = y0 + pad - round(size * 0.1)
    for label, value in rows:
        x = x0 + accent + pad
        if label:
            draw.text((x, y), label, font=font, fill=(255, 210, 60))
        draw.text((x + label_w, y), value, font=font, fill=(255, 255, 255),
                  stroke_width=max(1, size // 18), stroke_fill=(0, 0, 0))
        y += line_h
    return encode_jpeg(img, VIEW_QUALITY)


def estimate_decoded_bytes(width: int, height: int) -> int:
    """What a full RGB decode would cost; the memory test compares the pipeline's peak with it."""
    return width * height * 3


__all__ = [
    "CorruptImage", "DecompressionBomb", "FORMATS_BY_TYPE", "HEIF_SUPPORTED", "ImageError", "Processed",
    "Rendition", "UnsupportedImage", "check_type", "dhash", "estimate_decoded_bytes", "find_cjk_font",
    "hamming", "naive_pipeline", "normalise_type", "process", "sha256_hex", "sniff", "watermark",
]
