"""Lossless surgery on baseline JPEGs that carry a restart marker after every row of MCUs.

Restart markers make each row of 8×8-block units (MCUs) an independent, byte-aligned piece of the
entropy-coded data: the DC prediction starts afresh after each marker. So a horizontal band at the
bottom of such a picture can be cut out as a small JPEG of its own, edited, encoded again with the
same tables, and put back in place of the old rows, while every row above it stays bit for bit what
it was. The watermark uses this (webapp/watermark.py): its panel covers the bottom rows of the view,
and decoding and encoding only those rows costs a fraction of the whole frame.

Bytes only, no Pillow. ``parse`` answers None for anything else (progressive, no or other restart
interval, damaged), and the caller then does the plain full decode and encode.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass

SOI, EOI = b"\xff\xd8", b"\xff\xd9"
SOF0, DHT, DQT, DRI, SOS, APP0 = 0xC0, 0xC4, 0xDB, 0xDD, 0xDA, 0xE0
# In entropy-coded data a 0xFF byte is always followed by 0x00 (stuffing) or a marker, so this
# pattern finds exactly the restart markers.
_RST = re.compile(rb"\xff[\xd0-\xd7]")
_ALLOWED_SEGMENTS = {APP0, DQT, SOF0, DHT, DRI}


@dataclass(frozen=True)
class Bands:
    header: bytes  # SOI up to the end of the SOS segment
    sof_at: int  # offset of the SOF0 segment's height field in ``header``
    width: int
    height: int
    mcu_height: int
    rows: list[bytes]  # each MCU row's entropy-coded bytes, without its restart marker

    def header_for_height(self, height: int) -> bytes:
        return self.header[:self.sof_at] + struct.pack(">H", height) + self.header[self.sof_at + 2:]

    def first_row_at(self, y: int) -> int:
        """The MCU row containing pixel row ``y``."""
        return min(len(self.rows) - 1, max(0, y) // self.mcu_height)


def parse(data: bytes) -> Bands | None:
    """The picture's MCU rows, or None unless it is a single-scan baseline JPEG whose restart interval
    is exactly one MCU row and that has nothing after its image data."""
    if not data.startswith(SOI) or not data.endswith(EOI):
        return None
    pos, sof_at, width, height, mcu_w, mcu_h, interval = 2, None, 0, 0, 0, 0, None
    try:
        while True:
            if data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            length = struct.unpack_from(">H", data, pos + 2)[0]
            body = data[pos + 4:pos + 2 + length]
            if marker == SOS:
                header_end = pos + 2 + length
                break
            if marker not in _ALLOWED_SEGMENTS:
                return None  # progressive, arithmetic coding, metadata we never write: not ours
            if marker == SOF0:
                sof_at = pos + 5
                height, width, count = struct.unpack_from(">HHB", body, 1)
                factors = [body[7 + 3 * i] for i in range(count)]
                mcu_w = 8 * max(f >> 4 for f in factors)
                mcu_h = 8 * max(f & 0x0F for f in factors)
            elif marker == DRI:
                interval = struct.unpack_from(">H", body)[0]
            pos += 2 + length
    except (IndexError, struct.error):
        return None
    if sof_at is None or not (width and height and mcu_w and mcu_h):
        return None
    if interval != -(-width // mcu_w):
        return None
    entropy = data[header_end:-2]
    rows, start = [], 0
    for expected, found in enumerate(_RST.finditer(entropy)):
        if found.group()[1] != 0xD0 + expected % 8:
            return None
        rows.append(entropy[start:found.start()])
        start = found.end()
    rows.append(entropy[start:])
    if len(rows) != -(-height // mcu_h):
        return None
    return Bands(data[:header_end], sof_at, width, height, mcu_h, rows)


def assemble(header: bytes, rows: list[bytes]) -> bytes:
    """A JPEG from a header and MCU rows, restart markers numbered afresh from RST0."""
    parts = [header]
    for i, row in enumerate(rows):
        if i:
            parts.append(bytes((0xFF, 0xD0 + (i - 1) % 8)))
        parts.append(row)
    parts.append(EOI)
    return b"".join(parts)
