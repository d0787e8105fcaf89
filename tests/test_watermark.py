"""The watermark burned into the served view, and the JPEG row surgery that keeps it cheap."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.api_support import encode, noisy
from webapp import images, jpeg_bands
from webapp.watermark import Panel, find_cjk_font, watermark

MAX = 60_000_000
LINES = [("时间", "2026-11-26 14:05"), ("地点", "文苑社区·湖西早市·活禽区"), ("督导员", "王督导")]


def clean_view(size=(1280, 960), img: Image.Image | None = None) -> bytes:
    return images.process(encode(img or noisy(size), "JPEG", quality=95), "image/jpeg", max_pixels=MAX).view.data


def pixels(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return img.convert("RGB")


def test_watermark_is_drawn_in_the_view_only():
    view = images.process(encode(Image.new("RGB", (1280, 960), (240, 240, 240)), "JPEG"), "image/jpeg",
                          max_pixels=MAX).view
    marked = watermark(view.data, LINES, font_path=find_cjk_font())
    assert marked.sha256 != view.sha256 and marked.sha256 == images.sha256_hex(marked.data)
    out = pixels(marked.data)
    assert out.size == (marked.width, marked.height) == (1280, 960)
    panel = ImageStat.Stat(out.crop((40, 800, 300, 940))).mean  # bottom-left: the dark panel with text
    corner = ImageStat.Stat(out.crop((1100, 20, 1260, 120))).mean  # top-right: untouched
    assert sum(panel) / 3 < 150 and sum(corner) / 3 > 230
    assert len(Image.open(io.BytesIO(marked.data)).getexif()) == 0


def test_watermark_without_a_cjk_font_still_works():
    marked = watermark(clean_view((640, 480)), [("时间", "2026-11-26 14:05")], font_path=None)
    assert pixels(marked.data).size == (640, 480)


def test_cjk_font_is_installed():
    """`make run`/`make test` install fonts-noto-cjk; without it watermarks show boxes instead of Chinese."""
    path = find_cjk_font()
    assert path is not None and Path(path).is_file()


def test_the_pipeline_writes_views_the_watermark_can_cut_into_rows():
    bands = jpeg_bands.parse(clean_view((1280, 960)))
    assert bands is not None and (bands.width, bands.height) == (1280, 960)
    assert len(bands.rows) == 960 // bands.mcu_height


@pytest.mark.parametrize("size", [(1280, 960), (960, 1280), (1280, 853), (1277, 961), (720, 1280)])
def test_rows_above_the_panel_are_kept_bit_for_bit(size):
    view = clean_view(img=noisy(size))
    font = find_cjk_font()
    marked = watermark(view, LINES, font_path=font)
    before, after = jpeg_bands.parse(view), jpeg_bands.parse(marked.data)
    assert after is not None and after.header == before.header  # still a view the next watermark can cut
    panel = Panel(before.width, before.height, LINES, font)
    kept = before.first_row_at(panel.y0) - 1
    assert kept > 0 and after.rows[:kept] == before.rows[:kept]
    assert after.rows[kept:] != before.rows[kept:]
    # Decoded, the picture differs only from just above the panel down (chroma near the seam).
    changed = ImageChops.difference(pixels(view), pixels(marked.data)).getbbox()
    assert changed is not None and changed[1] >= kept * before.mcu_height - 2 and changed[3] == before.height


def test_rows_under_the_panel_are_what_a_whole_frame_watermark_gives():
    """The band is cut, drawn on and encoded exactly as the whole picture would be in those rows."""
    view = clean_view()
    font = find_cjk_font()
    marked = pixels(watermark(view, LINES, font_path=font).data)
    whole = Image.open(io.BytesIO(view))
    whole.load()
    whole = whole.convert("RGB")
    Panel(*whole.size, LINES, font).draw(whole)
    reference = pixels(images.encode_view(whole).data)
    bands = jpeg_bands.parse(view)
    # Below the margin row (the band's first, whose top was decoded without the row above it) and the
    # one pixel row whose chroma is interpolated from the margin row's.
    below = bands.first_row_at(Panel(*whole.size, LINES, font).y0) * bands.mcu_height + 1
    diff = ImageChops.difference(marked.crop((0, below, 1280, 960)), reference.crop((0, below, 1280, 960)))
    assert diff.getbbox() is None


def test_a_view_written_otherwise_is_marked_whole():
    """Views stored before restart markers (progressive), or by another encoder, take the slow path."""
    img = Image.new("RGB", (1280, 960), (235, 235, 235))
    progressive = images.encode_jpeg(img, 85).data
    assert jpeg_bands.parse(progressive) is None
    other_tables = io.BytesIO()
    img.save(other_tables, "JPEG", quality=60, restart_marker_rows=1)  # rows, but other tables than ours
    assert jpeg_bands.parse(other_tables.getvalue()) is not None
    for source in (progressive, other_tables.getvalue()):
        marked = watermark(source, LINES, font_path=find_cjk_font())
        out = pixels(marked.data)
        assert out.size == (1280, 960)
        assert sum(ImageStat.Stat(out.crop((40, 800, 300, 940))).mean) / 3 < 150
        assert jpeg_bands.parse(marked.data) is not None


@pytest.mark.parametrize("size", [(17, 1280), (1280, 12), (40, 30)])
def test_slivers_and_tiny_views_are_marked_without_error(size):
    marked = watermark(images.encode_view(noisy(size)).data, LINES, font_path=find_cjk_font())
    assert pixels(marked.data).size == size


def test_row_surgery_round_trips_and_refuses_what_it_does_not_know():
    data = images.encode_view(noisy((333, 250))).data
    bands = jpeg_bands.parse(data)
    assert jpeg_bands.assemble(bands.header, bands.rows) == data
    # A band of the last rows is a JPEG of its own.
    tail = jpeg_bands.assemble(bands.header_for_height(250 - 3 * bands.mcu_height), bands.rows[3:])
    assert pixels(tail).size == (333, 250 - 3 * bands.mcu_height)
    two_rows = io.BytesIO()
    noisy((333, 250)).save(two_rows, "JPEG", quality=85, restart_marker_rows=2)
    plain = io.BytesIO()
    noisy((333, 250)).save(plain, "JPEG", quality=85)
    for other in (two_rows.getvalue(), plain.getvalue(), data[:4000], data + b"\x00", data[:-2] + b"\xff\xd9\x00",
                  b"", b"\xff\xd8\xff\xd9", images.encode_jpeg(noisy((1280, 960)), 85).data):
        assert jpeg_bands.parse(other) is None
