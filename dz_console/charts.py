"""Charts drawn on the server as inline SVG: no script, no asset to fetch, nothing from a CDN.

Two shapes cover the pages: stacked bars over days or hours (counts per kind), and a line over
the same axis (lag, duration). Labels are escaped; sizes are fixed so a page's layout does not
shift while it loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#2f6fb0", "#d9822b", "#c23030", "#29a634", "#8f398f", "#00998c", "#7a6a53", "#5c7080")
W, H, LEFT, BOTTOM, TOP = 720, 220, 56, 40, 14


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** (len(str(int(v))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * mag:
            return step * mag
    return 10 * mag


def _fmt(v: float) -> str:
    if v >= 10_000:
        return f"{v / 10_000:g}万"
    return f"{v:g}"


def _frame(title: str, top: float, body: list[str], labels: Sequence[str], legend: Sequence[str]) -> Markup:
    plot_w, plot_h = W - LEFT - 10, H - BOTTOM - TOP
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {H}" '
           f'width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{_fmt(top * i / 4)}</text>')
    out += body
    n = len(labels)
    every = max(1, n // 10)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + plot_w * (i + 0.5) / max(n, 1)
            out.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" class="axis">'
                       f"{escape(label)}</text>")
    x = LEFT
    for i, name in enumerate(legend):
        out.append(f'<rect x="{x}" y="{H - 14}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{x + 14}" y="{H - 5}" class="legend">{escape(name)}</text>')
        x += 24 + 13 * len(name)
    out.append("</svg>")
    return Markup("".join(out))


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]]) -> Markup:
    """Bars per label, one segment per series (in the order given)."""
    plot_w, plot_h = W - LEFT - 10, H - BOTTOM - TOP
    totals = [sum(s[i] or 0 for s in series.values()) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    n = max(len(labels), 1)
    bw = plot_w / n * 0.7
    body = []
    for i, label in enumerate(labels):
        x = LEFT + plot_w * i / n + plot_w / n * 0.15
        y = TOP + plot_h
        for k, (name, values) in enumerate(series.items()):
            v = values[i] or 0
            h = plot_h * v / top
            if h <= 0:
                continue
            y -= h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(label)} {escape(name)}: '
                        f'{_fmt(v)}</title></rect>')
    return _frame(title, top, body, labels, list(series))


def lines(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]]) -> Markup:
    """One polyline per series over the labels (gaps where a value is None)."""
    plot_w, plot_h = W - LEFT - 10, H - BOTTOM - TOP
    top = _nice_max(max((v for s in series.values() for v in s if v is not None), default=0))
    n = max(len(labels), 1)
    body = []
    for k, (name, values) in enumerate(series.items()):
        pts = [f"{LEFT + plot_w * (i + 0.5) / n:.1f},{TOP + plot_h - plot_h * v / top:.1f}"
               for i, v in enumerate(values) if v is not None]
        colour = PALETTE[k % len(PALETTE)]
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                        f'points="{" ".join(pts)}"><title>{escape(name)}</title></polyline>')
        for p, v in zip(pts, (v for v in values if v is not None), strict=True):  # a lone day shows too
            x, y = p.split(",")
            body.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"><title>{escape(name)}: {_fmt(v)}</title>'
                        "</circle>")
    return _frame(title, top, body, labels, list(series))
