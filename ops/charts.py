"""Small server-side SVG charts for the staff dashboard (no JavaScript, no CDN).

Every text that comes from data is escaped; the result is safe to mark safe in a template.
"""

from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#417690", "#e07b39", "#5a9e4b", "#b0413e", "#8064a2", "#c8a02a", "#3b8686", "#7f7f7f")


def _svg(width: int, height: int, body: list[str], title: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every data-derived string below goes through escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _nice_max(value: float) -> float:
    """Smallest of 1, 2 or 5 x 10^k at or above `value`: a round top for the axis."""
    if value <= 0:
        return 1.0
    return float(
        min(
            step * 10**power
            for power in range(-3, 12)
            for step in (1, 2, 5)
            if step * 10**power >= value
        )
    )


def _runs(values: list[float | None]) -> list[list[tuple[int, float]]]:
    """The (index, value) stretches of `values` without a None."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append((i, value))
    return [run for run in runs if run]


def _polyline(points: list[tuple[float, float]], color: str, name: str) -> str:
    """A series' line through `points`; a lone point is drawn as a dot."""
    text = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    line = (
        f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{text}">'
        f"<title>{escape(name)}</title></polyline>"
    )
    if len(points) == 1:
        x, y = points[0]
        line += f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
    return line


def line_chart(
    days: list[date], series: dict[str, list[float | None]], *, title: str, width: int = 720
) -> SafeString:
    """One polyline per series over `days` (the x axis), with a legend; None is no value."""
    height, left, right, top, bottom = 240, 48, 12, 12, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(
        max((v for values in series.values() for v in values if v is not None), default=0)
    )
    body = []
    for i in range(5):  # horizontal grid with labels
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{peak * i / 4:g}</text>'
        )
    step = plot_w / max(len(days) - 1, 1)
    label_every = max(1, len(days) // 8)
    for i, day in enumerate(days):
        if i % label_every == 0 or i == len(days) - 1:
            x = left + i * step
            body.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{escape(day.strftime('%m-%d'))}</text>"
            )
    for n, (name, values) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        for run in _runs(values):  # a day without a value (None) breaks the line
            points = [(left + i * step, top + plot_h - plot_h * v / peak) for i, v in run]
            body.append(_polyline(points, color, name))
        lx = left + (n % 4) * (plot_w / 4)
        ly = height - 20 + (n // 4) * 14
        body.append(
            f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14:.1f}" y="{ly}">{escape(name)}</text>'
        )
    if not series:
        body.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#888">'
            "No predictions in this window.</text>"
        )
    return _svg(width, height + (max(len(series) - 1, 0) // 4) * 14, body, title)


def bar_chart(
    rows: list[tuple[str, list[float | None]]],
    *,
    legend: list[str],
    title: str,
    unit: str = "",
    width: int = 720,
) -> SafeString:
    """Horizontal grouped bars: one group per row label, one bar per legend entry."""
    left, right, bar_h, gap = 150, 80, 12, 10
    group_h = bar_h * len(legend) + gap
    top = 22
    height = top + group_h * max(len(rows), 1) + 8
    plot_w = width - left - right
    peak = _nice_max(max((v for _, values in rows for v in values if v is not None), default=0))
    body = []
    for n, name in enumerate(legend):
        color = PALETTE[n % len(PALETTE)]
        body.append(
            f'<rect x="{left + n * 110}" y="4" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + n * 110 + 14}" y="13">{escape(name)}</text>'
        )
    for r, (label, values) in enumerate(rows):
        y0 = top + r * group_h
        body.append(
            f'<text x="{left - 6}" y="{y0 + bar_h * len(legend) / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        for n, value in enumerate(values):
            y = y0 + n * bar_h
            w = 0 if value is None else plot_w * value / peak
            text = "-" if value is None else f"{value:.3g}{unit}"
            body.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{PALETTE[n % len(PALETTE)]}"/>'
                f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 3}">{escape(text)}</text>'
            )
    if not rows:
        body.append(f'<text x="{left}" y="{top + 14}" fill="#888">No data in this window.</text>')
    return _svg(width, height, body, title)
