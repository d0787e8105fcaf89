"""The photo pipeline (webapp/images.py), with images made in memory."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.api_support import encode, noisy, two_tone
from webapp import images

ROOT = Path(__file__).resolve().parent.parent
MAX = 60_000_000


def quadrants(size=(400, 300)) -> Image.Image:
    """Red, green / blue, white quadrants: any rotation or mirror is visible in the corners."""
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    img.paste((220, 20, 20), (0, 0, w // 2, h // 2))
    img.paste((20, 200, 20), (w // 2, 0, w, h // 2))
    img.paste((20, 20, 220), (0, h // 2, w // 2, h))
    return img


def corners(img: Image.Image) -> list[str]:
    img = img.convert("RGB")
    w, h = img.size
    names = []
    for x, y in ((w // 8, h // 8), (w * 7 // 8, h // 8), (w // 8, h * 7 // 8), (w * 7 // 8, h * 7 // 8)):
        r, g, b = img.getpixel((x, y))
        names.append("white" if min(r, g, b) > 180 else "red" if r > 150 else "green" if g > 150 else "blue")
    return names


INVERSE = {Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90}


def open_jpeg(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation):
    upright = quadrants()
    fix = images.ORIENTATION_FIX.get(orientation)
    stored = upright.transpose(INVERSE.get(fix, fix)) if fix is not None else upright
    data = encode(stored, "JPEG", orientation=orientation, quality=95)
    # Same meaning as Pillow's reference implementation…
    assert corners(ImageOps.exif_transpose(Image.open(io.BytesIO(data)))) == ["red", "green", "blue", "white"]
    # …and our draft-then-orient pipeline agrees for every rendition.
    out = images.process(data, "image/jpeg", max_pixels=MAX)
    for rendition in (out.master, out.view, out.thumb):
        img = open_jpeg(rendition.data)
        assert corners(img) == ["red", "green", "blue", "white"], orientation
        assert img.size == (rendition.width, rendition.height)
    assert (out.source_width, out.source_height) == (400, 300)


def test_sizes_of_the_renditions():
    out = images.process(encode(Image.linear_gradient("L").resize((3000, 2000)), "JPEG"), "image/jpeg", max_pixels=MAX)
    assert max(out.master.width, out.master.height) <= images.MASTER_MAX_EDGE
    assert max(out.master.width, out.master.height) >= images.MASTER_MAX_EDGE * images.DRAFT_SLACK
    assert (out.view.width, out.view.height) == (1280, 853)
    assert (out.thumb.width, out.thumb.height) == (320, 213)
    small = images.process(encode(noisy((200, 150)), "JPEG"), "image/jpeg", max_pixels=MAX)
    assert (small.master.width, small.view.width, small.thumb.width) == (200, 200, 200)  # never upscaled


@pytest.mark.parametrize("options", [
    {"quality": 90, "optimize": True, "progressive": True},
    {"quality": 85, "optimize": False, "progressive": False, "restart_marker_rows": 1},
])
def test_jpeg_written_through_a_memory_file_is_the_same_as_through_bytesio(monkeypatch, options):
    """save_jpeg encodes into a file descriptor (so libjpeg runs without the GIL): the bytes must be
    what the BytesIO fallback gives, and no descriptor may be left open per photo."""
    img = noisy((700, 500))
    expected = io.BytesIO()
    img.save(expected, format="JPEG", **options)
    fds = len(list(Path("/proc/self/fd").iterdir())) if Path("/proc/self/fd").is_dir() else None
    through_fd = [images.save_jpeg(img, **options) for _ in range(20)]
    if fds is not None:
        assert len(list(Path("/proc/self/fd").iterdir())) == fds
    monkeypatch.setattr(images, "_MEMFD", None)
    assert through_fd[0] == through_fd[-1] == images.save_jpeg(img, **options) == expected.getvalue()


def test_no_metadata_survives():
    img = noisy((800, 600))
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (36.0, 27.0, 1.0), 3: "E", 4: (115.0, 59.0, 2.0)}
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img.save(buf, "JPEG", exif=exif, icc_profile=icc, comment=b"inspector phone 13800000000")
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    out = images.process(data, "image/jpeg", max_pixels=MAX)
    for rendition in (out.master, out.view, out.thumb):
        served = open_jpeg(rendition.data)
        assert len(served.getexif()) == 0
        assert not {"exif", "icc_profile", "comment", "xmp", "photoshop"} & set(served.info)
        assert b"13800000000" not in rendition.data and b"PhoneMaker" not in rendition.data


def test_truncated_jpeg_passes_verify_but_not_the_pipeline():
    data = encode(noisy((1200, 900)), "JPEG")
    cut = data[: len(data) // 2]
    Image.open(io.BytesIO(cut)).verify()  # what a naive check would accept
    with pytest.raises(images.CorruptImage):
        images.process(cut, "image/jpeg", max_pixels=MAX)


@pytest.mark.parametrize("pixels", [1_000_000, 400_000])
def test_decompression_bomb_is_an_error(pixels):
    """Over the limit (a warning in Pillow) and over twice the limit (an error in Pillow): both refused."""
    data = encode(Image.new("RGB", (1000, 1000)), "PNG")
    with pytest.raises(images.DecompressionBomb):
        images.process(data, "image/png", max_pixels=pixels - 1 if pixels == 1_000_000 else pixels)


@pytest.mark.parametrize("declared, fmt", [("image/jpeg", "PNG"), ("image/png", "JPEG"), ("image/webp", "PNG"),
                                           ("image/gif", "GIF"), ("image/jpeg", "GIF"), ("image/jpeg", "BMP"),
                                           ("application/octet-stream", "JPEG")])
def test_declared_type_must_be_what_the_bytes_are(declared, fmt):
    data = encode(noisy((64, 64)).convert("RGB" if fmt != "GIF" else "P"), fmt)
    with pytest.raises(images.UnsupportedImage):
        images.process(data, declared, max_pixels=MAX)


def test_garbage_with_a_jpeg_header_is_corrupt():
    with pytest.raises(images.CorruptImage):
        images.process(b"\xff\xd8\xff\xe0" + b"\x00" * 500, "image/jpeg", max_pixels=MAX)


def test_type_aliases():
    assert images.normalise_type("image/JPG; charset=binary") == "image/jpeg"
    assert images.check_type(encode(noisy((8, 8)), "JPEG"), "image/pjpeg") == "image/jpeg"


def test_transparent_png_is_flattened_on_white():
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (0, 0, 50, 100))
    out = images.process(encode(img, "PNG"), "image/png", max_pixels=MAX)
    master = open_jpeg(out.master.data).convert("RGB")
    assert master.getpixel((75, 50))[0] > 240 and master.getpixel((25, 50))[1] < 40


def test_webp_and_grayscale_and_cmyk_inputs():
    for img, fmt, ctype in ((noisy((300, 200)), "WEBP", "image/webp"),
                            (noisy((300, 200)).convert("L"), "JPEG", "image/jpeg"),
                            (noisy((300, 200)).convert("CMYK"), "JPEG", "image/jpeg")):
        out = images.process(encode(img, fmt), ctype, max_pixels=MAX)
        assert open_jpeg(out.master.data).mode == "RGB"


def test_mpo_from_a_phone_opens_as_jpeg():
    first, second = two_tone((400, 300)), noisy((400, 300))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    out = images.process(data, "image/jpeg", max_pixels=MAX)
    assert out.source_format == "MPO"
    assert corners(open_jpeg(out.view.data))[0] == "red"


def scene(seed: int) -> Image.Image:
    """A deterministic picture with large shapes (a street scene's kind of structure, no randomness)."""
    from PIL import ImageDraw

    img = Image.linear_gradient("L").rotate(90 * seed).resize((640, 480)).convert("RGB")
    draw = ImageDraw.Draw(img)
    for i in range(4):
        x, y = (97 * (i + 1) * (seed + 1)) % 520, (61 * (i + 2) * (seed + 2)) % 360
        draw.rectangle((x, y, x + 120, y + 90), fill=((50 * i + 80 * seed) % 256, 40 * i, 200 - 40 * i))
    return img


def test_dhash_finds_the_same_picture_again():
    a = images.process(encode(scene(0), "JPEG", quality=95), "image/jpeg", max_pixels=MAX).phash
    b = images.process(encode(scene(0).resize((320, 240)), "JPEG", quality=50), "image/jpeg",
                       max_pixels=MAX).phash
    c = images.process(encode(scene(1), "JPEG"), "image/jpeg", max_pixels=MAX).phash
    assert len(a) == 16 and int(a, 16) >= 0
    assert images.hamming(a, b) <= 10, (a, b)  # the usual "same picture" threshold for 64-bit dHash
    assert images.hamming(a, c) >= 20, (a, c)


def test_taken_at_from_exif():
    plain = images.process(encode(noisy((64, 64)), "JPEG", taken="2026:11:20 09:15:30"), "image/jpeg",
                           max_pixels=MAX)
    assert plain.taken_at == datetime(2026, 11, 20, 9, 15, 30)
    img = noisy((64, 64))
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2026:11:20 09:15:30"
    sub[0x9011] = "+08:00"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    aware = images.process(buf.getvalue(), "image/jpeg", max_pixels=MAX).taken_at
    assert aware == datetime(2026, 11, 20, 1, 15, 30, tzinfo=timezone.utc)
    assert aware.utcoffset() == timedelta(hours=8)
    assert images.process(encode(noisy((64, 64)), "JPEG", taken="garbage"), "image/jpeg",
                          max_pixels=MAX).taken_at is None


def test_naive_pipeline_gives_the_same_picture():
    data = encode(quadrants((1200, 900)).transpose(Image.Transpose.ROTATE_90), "JPEG", orientation=6)
    fast = images.process(data, "image/jpeg", max_pixels=MAX)
    slow = images.naive_pipeline(data, "image/jpeg", max_pixels=MAX)
    assert corners(open_jpeg(fast.view.data)) == corners(open_jpeg(slow.view.data)) == ["red", "green", "blue",
                                                                                        "white"]
    assert (fast.view.width, fast.view.height) == (slow.view.width, slow.view.height)


MEASURE = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[3])
    from webapp import images
    data = open(sys.argv[2], "rb").read()
    fn = images.process if sys.argv[1] == "draft" else images.naive_pipeline
    images.process(open(sys.argv[4], "rb").read(), "image/jpeg", max_pixels=10**8)  # warm up the code paths
    def status_kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    # ru_maxrss survives exec (it would report pytest's own peak): reset the kernel's high-water mark.
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = status_kb("VmRSS")
    start = time.perf_counter()
    out = fn(data, "image/jpeg", max_pixels=10**8)
    seconds = time.perf_counter() - start
    peak = status_kb("VmHWM")
    print(json.dumps({"peak_mb": (peak - before) / 1024, "seconds": seconds, "master": [out.master.width,
                      out.master.height]}))
""")


def measure(kind: str, path: Path, small: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path), str(ROOT), str(small)],
                            capture_output=True, text=True, check=True, timeout=120)
    return json.loads(result.stdout)


def test_24_megapixel_jpeg_uses_far_less_memory_than_a_full_decode(tmp_path):
    """A 6000x4000 RGB decode is 72 MB (96 MB in Pillow's 4-byte pixels); draft() decodes at 1/4 scale."""
    smooth = Image.linear_gradient("L").resize((6000, 4000)).convert("RGB")  # decode cost is per pixel
    path = tmp_path / "24mp.jpg"
    smooth.save(path, "JPEG", quality=90)
    del smooth
    small = tmp_path / "small.jpg"
    noisy((320, 240)).save(small, "JPEG")
    full_decode_mb = images.estimate_decoded_bytes(6000, 4000) / 1e6
    fast = measure("draft", path, small)
    slow = measure("naive", path, small)
    print(f"\n24 MP: draft pipeline peak +{fast['peak_mb']:.1f} MB in {fast['seconds']:.2f}s; "
          f"naive +{slow['peak_mb']:.1f} MB in {slow['seconds']:.2f}s; full RGB decode {full_decode_mb:.0f} MB")
    assert fast["master"] == [1500, 1000]
    assert fast["peak_mb"] < 0.5 * full_decode_mb
    assert slow["peak_mb"] > 2 * fast["peak_mb"]
