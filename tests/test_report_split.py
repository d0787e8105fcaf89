"""Splitting the chat text into numbered messages: never inside a line, headings kept with their
first line and repeated with "（续）" on a new part, every part within the limit."""
from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.report_day import NOW, build_day
from webapp.extensions import db
from webapp.services.daily_report import build_daily_report
from webapp.services.daily_report_text import Line, body_lines, chat_parts, split_parts, title

GROUP = [
    Line("A：", is_heading=True),
    Line("a1a1a1a1；", "A："),
    Line("a2a2a2a2；", "A："),
    Line(""),
    Line("B：", is_heading=True),
    Line("b1b1b1b1。", "B："),
]


@pytest.fixture(autouse=True)
def _request_context(app):
    with app.test_request_context():
        yield


def test_short_text_is_one_unnumbered_message():
    assert split_parts("通报", GROUP, 39) == ["通报\nA：\na1a1a1a1；\na2a2a2a2；\n\nB：\nb1b1b1b1。"]


def test_split_at_a_group_boundary():
    assert split_parts("通报", GROUP, 30) == [
        "通报（1/2）\nA：\na1a1a1a1；\na2a2a2a2；",
        "通报（2/2）\nB：\nb1b1b1b1。",
    ]


def test_a_part_starting_inside_a_group_repeats_its_heading():
    assert split_parts("通报", GROUP, 24) == [
        "通报（1/3）\nA：\na1a1a1a1；",
        "通报（2/3）\nA（续）：\na2a2a2a2；",
        "通报（3/3）\nB：\nb1b1b1b1。",
    ]


def test_a_heading_is_never_left_alone_at_the_bottom():
    lines = [Line("x" * 10), Line("H：", is_heading=True), Line("y" * 10, "H：")]
    # "H：" alone would still fit under the x line, but not together with the line it heads.
    assert split_parts("通报", lines, 24) == ["通报（1/2）\nxxxxxxxxxx", "通报（2/2）\nH：\nyyyyyyyyyy"]


def test_numbering_widens_past_nine_parts():
    lines = [Line(f"{i:02d}" + "字" * 8) for i in range(12)]
    parts = split_parts("通报", lines, 20)
    assert len(parts) == 12
    assert parts[0] == "通报（1/12）\n00字字字字字字字字"
    assert parts[11] == "通报（12/12）\n11字字字字字字字字"
    assert max(len(p) for p in parts) == 20


def test_a_line_longer_than_the_limit_is_sent_whole_not_cut():
    lines = [Line("短"), Line("长" * 50), Line("短")]
    assert split_parts("通报", lines, 30) == ["通报（1/3）\n短", "通报（2/3）\n" + "长" * 50, "通报（3/3）\n短"]


HEADER = re.compile(r"^通报（(\d+)/(\d+)）$")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), st.booleans()), min_size=1, max_size=60),
    st.integers(80, 400),
)
def test_any_text_splits_within_the_limit_without_losing_or_cutting_lines(spec, limit):
    lines, heading = [], None
    for n, (length, group, starts_group) in enumerate(spec):
        if starts_group:
            heading = f"组{group}："
            lines.append(Line(heading, is_heading=True))
        lines.append(Line(f"{n:02d}" + "字" * length if length else "", heading))
    parts = split_parts("通报", lines, limit)
    original = [line.text for line in lines if line.text]
    if len(parts) == 1:
        assert [t for t in parts[0].split("\n")[1:] if t] == original
        return
    rebuilt = []
    for i, part in enumerate(parts, 1):
        assert len(part) <= limit
        first, *rest = part.split("\n")
        assert HEADER.match(first).groups() == (str(i), str(len(parts)))
        assert rest and rest[0] and rest[-1], "no blank line at either end of a part"
        rebuilt += [t for t in rest if t and not t.endswith("（续）：")]
    assert rebuilt == original


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 3), st.booleans()), min_size=1, max_size=60),
    st.integers(-5, 100),
)
def test_the_shortcut_never_counts_more_parts_than_packing_makes(spec, room):
    """split_parts skips numbering widths it can prove too narrow by counting characters; the count
    must never exceed the parts packing really makes, long lines and headings included."""
    from webapp.services.daily_report_text import _fewest_parts, _pack

    lines, heading = [], None
    for n, (length, group, starts_group) in enumerate(spec):
        if starts_group:
            heading = f"组{group}："
            lines.append(Line(heading, is_heading=True))
        lines.append(Line("字" * length, heading))
    sizes = sorted((len(line.text) + 1 for line in lines if line.text), reverse=True)
    assert _fewest_parts(sizes, room) <= max(1, len(_pack(lines, room)))


def test_the_real_report_splits_only_between_lines(ctx):
    day = build_day()
    db.session.commit()
    report = build_daily_report(day.desk, date(2025, 9, 18), day.gulou.id, now=NOW)
    whole = chat_parts(report, limit=10_000)[0].split("\n")
    for limit in (120, 200, 400):
        parts = chat_parts(report, limit=limit)
        assert len(parts) > 1
        seen = []
        for part in parts:
            assert len(part) <= limit
            assert part.startswith(title(report) + "（")
            seen += [t for t in part.split("\n")[1:] if t and not t.endswith("（续）：")]
        assert seen == [t for t in whole[1:] if t]
    assert body_lines(report)[0].text == "检查点位7处，卫生尚可2处，发现问题7条。另有1条待审核，未列入。"
