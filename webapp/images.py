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
import os
import struct
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from PIL import Image, ImageOps, UnidentifiedImageError

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

_MEMFD = getattr(os, "memfd_create", None)  # Linux; elsewhere (a developer's Mac) encoding keeps the GIL

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


def save_jpeg(img: Image.Image, **options) -> bytes:
    """``img.save(format="JPEG")`` into bytes, with libjpeg running outside the GIL.

    Pillow holds the GIL while it encodes into a Python buffer such as BytesIO, but releases it while
    it encodes straight into a file descriptor. Encoding is a third of a photo's CPU, so with
    BytesIO the threads of one gunicorn worker take turns at it and a worker that is handed most of
    the connections cannot use a second core. An anonymous in-memory file (``memfd_create``, Linux)
    costs two copies of the output — microseconds — and lets them encode side by side.
    """
    if _MEMFD is None:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", **options)
        return buf.getvalue()
    with open(_MEMFD("jpeg", os.MFD_CLOEXEC), "w+b") as fh:
        img.save(fh, format="JPEG", **options)
        fh.seek(0)
        return fh.read()


def encode_jpeg(img: Image.Image, quality: int) -> Rendition:
    """Encode with no metadata at all: ``info`` is cleared so not even a JPEG comment is carried over.
    Progressive above 0.3 MP: a viewer on a slow link sees the whole picture early."""
    img = img.copy() if img.info else img
    img.info = {}
    data = save_jpeg(img, quality=quality, optimize=True, progressive=img.width * img.height > 300_000)
    return Rendition(data, sha256_hex(data), img.width, img.height)


def encode_view(img: Image.Image) -> Rendition:
    """The 1280 px view, clean or watermarked: baseline JPEG with the standard Huffman tables and a
    restart marker after every row of MCUs, so the watermark can re-encode just the rows under its
    panel and join them to the untouched rows above (webapp/watermark.py). Against a progressive,
    optimised file this is ~8 % more bytes and a fifth of the encoding CPU, and the watermark then
    costs a fifth of a whole-frame decode and encode."""
    img = img.copy() if img.info else img
    img.info = {}
    data = save_jpeg(img, quality=VIEW_QUALITY, optimize=False, progressive=False, restart_marker_rows=1)
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
        view=encode_view(view_img),
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


def estimate_decoded_bytes(width: int, height: int) -> int:
    """What a full RGB decode would cost; the memory test compares the pipeline's peak with it."""
    return width * height * 3


__all__ = [
    "CorruptImage", "DecompressionBomb", "FORMATS_BY_TYPE", "HEIF_SUPPORTED", "ImageError", "Processed",
    "Rendition", "UnsupportedImage", "check_type", "dhash", "encode_jpeg", "encode_view", "estimate_decoded_bytes",
    "hamming", "naive_pipeline", "normalise_type", "process", "save_jpeg", "sha256_hex", "sniff",
]
