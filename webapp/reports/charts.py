"""Server-side SVG charts: they render offline, print, and need no JS chart library.

Colours come from CSS classes (``.fam-<code>``), not inline styles, so the page's CSP holds and
the print stylesheet can switch to patterns-free greys if it wants. The numbers are always also
shown in a table beside the chart; the SVG is a picture of that table.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 14, 34


GRID_STEPS = 4


def nice_max(value: int) -> int:
    """Top of the axis: four grid steps of a round whole number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^n),
    so every grid line is a readable count and the bars use most of the height."""
    exponent = 1
    while True:
        for mantissa in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
            step = mantissa * exponent
            if step == int(step) and GRID_STEPS * step >= value:
                return int(GRID_STEPS * step)
        exponent *= 10


def _axis(top: int, plot_h: float, plot_w: float) -> list[str]:
    parts = []
    for i in range(GRID_STEPS + 1):
        y = TOP + plot_h - plot_h * i / GRID_STEPS
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end">{top * i // GRID_STEPS}</text>')
    return parts


def stacked_bars(days: Sequence[date], series: Sequence[tuple[str, str, Sequence[int]]], title: str) -> Markup:
    """One bar per day, stacked by series (code, label, counts)."""
    n = len(days)
    totals = [sum(s[2][i] for s in series) for i in range(n)]
    top = nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(n, 1)
    bar = max(slot * 0.8, 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>', *_axis(top, plot_h, plot_w)]
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        y = TOP + plot_h
        for code, label, counts in series:
            value = counts[i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(f'<rect class="fam fam-{escape(code)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}"><title>{day:%m-%d} {escape(label)}: {value}</title></rect>')
    step = max(1, math.ceil(n / 6))
    for i in range(0, n, step):
        x = LEFT + i * slot + slot / 2
        parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{days[i]:%m-%d}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(items: Sequence[tuple[str, int]], title: str) -> Markup:
    """A plain bar per (label, value)."""
    n = len(items)
    top = nice_max(max((v for _, v in items), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(n, 1)
    bar = slot * 0.6
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>', *_axis(top, plot_h, plot_w)]
    for i, (label, value) in enumerate(items):
        x = LEFT + i * slot + (slot - bar) / 2
        h = plot_h * value / top
        y = TOP + plot_h - h
        if value:
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                         f'<title>{escape(label)}: {value}</title></rect>')
            parts.append(f'<text class="value" x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{value}</text>')
        parts.append(f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
