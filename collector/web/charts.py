"""Server-side SVG charts for the fleet view: bars of counts per hour, lines of milliseconds per hour.

Plain SVG built from the numbers: the browser draws it, nothing runs on the page, and a test can
read the values back from the markup (each bar and point carries its value in a <title>).
"""

from __future__ import annotations

import datetime
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 36, 64
PALETTE = ["#1f6feb", "#d1242f", "#9a6700", "#8250df", "#1a7f37", "#bc4c00", "#57606a"]


def _hour_label(hour: int) -> str:
    return datetime.datetime.fromtimestamp(hour, datetime.timezone.utc).strftime("%d %H:00")


def _frame(title: str, hours: list[int], top: float, unit: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" font-family="Noto Sans CJK SC, sans-serif" font-size="12">',
             f'<title>{escape(title)}</title>',
             f'<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{escape(title)}</text>']
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{top * fraction:.0f}{unit}</text>')
    step = max(1, len(hours) // 8)
    slot = plot_w / max(1, len(hours))
    for index in range(0, len(hours), step):
        x = LEFT + slot * (index + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                     f'{_hour_label(hours[index])}</text>')
    return parts


def _legend(labels: list[str]) -> list[str]:
    parts, x = [], LEFT
    for index, label in enumerate(labels):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{HEIGHT - 12}">{escape(label)}</text>')
        x += 28 + 8 * len(label) + (8 * sum(1 for ch in label if ord(ch) > 0x2E80))  # CJK glyphs are wider
    return parts


def bars(title: str, hours: list[int], series: dict[str, list[float]], *, empty: str) -> str:
    """Stacked bars, one per hour, one colour per series (in the order given)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(hours))]
    top = max([1.0, *totals])
    parts = _frame(title, hours, top, "")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(hours))
    for index, hour in enumerate(hours):
        base = 0.0
        for number, (label, values) in enumerate(series.items()):
            value = values[index]
            if not value:
                continue
            height = plot_h * value / top
            y = TOP + plot_h * (1 - (base + value) / top)
            parts.append(f'<rect x="{LEFT + slot * index + 1:.1f}" y="{y:.1f}" width="{max(1.0, slot - 2):.1f}" '
                         f'height="{height:.1f}" fill="{PALETTE[number % len(PALETTE)]}">'
                         f'<title>{escape(label)} {_hour_label(hour)}: {value:g}</title></rect>')
            base += value
    if not any(totals):
        parts.append(f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#57606a">'
                     f'{escape(empty)}</text>')
    parts += _legend(list(series))
    return "".join(parts) + "</svg>"


def lines(title: str, hours: list[int], series: dict[str, list[float | None]], *, unit: str, empty: str) -> str:
    """One line per series; an hour without a value leaves a gap."""
    values = [v for points in series.values() for v in points if v is not None]
    top = max([1.0, *values]) * 1.1
    parts = _frame(title, hours, top, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(hours))
    for number, (label, points) in enumerate(series.items()):
        colour = PALETTE[number % len(PALETTE)]
        path: list[str] = []
        for index, value in enumerate(points):
            if value is None:
                if len(path) > 1:
                    parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(path)}"/>')
                path = []
                continue
            x, y = LEFT + slot * (index + 0.5), TOP + plot_h * (1 - value / top)
            path.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(label)} {_hour_label(hours[index])}: {value:g}{unit}</title></circle>')
        if len(path) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(path)}"/>')
    if not values:
        parts.append(f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#57606a">'
                     f'{escape(empty)}</text>')
    parts += _legend(list(series))
    return "".join(parts) + "</svg>"
