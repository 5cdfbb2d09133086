"""Charts as plain SVG made on the server: the same markup in the web UI's charts page and in the HTML report,
with no script and nothing fetched from elsewhere (the report is a file people mail around)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

WIDTH, HEIGHT, PAD = 640, 220, 44
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")

Series = tuple[str, Sequence[tuple[float, float]]]


def _scale(values: Sequence[float], low: float = 0.0) -> tuple[float, float]:
    high = max(values, default=1.0)
    return low, (high if high > low else low + 1.0)


def line_chart(key: str, title: str, unit: str, series: Sequence[Series], x_label: str = "seconds") -> str:
    """One chart: each series a polyline whose `data-points` attribute says how many samples it holds."""
    xs = [x for _, points in series for x, _ in points]
    ys = [y for _, points in series for _, y in points]
    x0, x1 = _scale(xs, min(xs, default=0.0))
    y0, y1 = _scale(ys)

    def at(x: float, y: float) -> str:
        px = PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD)
        py = HEIGHT - PAD - (y - y0) / (y1 - y0) * (HEIGHT - 2 * PAD)
        return f"{px:.1f},{py:.1f}"

    parts = [
        f'<svg class="registry-chart" id="chart-{key}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{PAD}" y="18" font-size="14" font-family="sans-serif">{html.escape(title)}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="4" y="{PAD + 4}" font-size="11" font-family="sans-serif">{y1:.3g} {html.escape(unit)}</text>',
        f'<text x="4" y="{HEIGHT - PAD}" font-size="11" font-family="sans-serif">{y0:.3g}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" font-size="11" text-anchor="end" '
        f'font-family="sans-serif">{x1:.4g} {html.escape(x_label)}</text>',
    ]
    for number, (label, points) in enumerate(series):
        color = COLORS[number % len(COLORS)]
        coordinates = " ".join(at(x, y) for x, y in points)
        parts.append(f'<polyline class="series" data-series="{html.escape(label)}" data-points="{len(points)}" '
                     f'fill="none" stroke="{color}" stroke-width="2" points="{coordinates}"/>')  # fmt: skip
        parts.append(f'<text x="{WIDTH - PAD - 150}" y="{18 + 14 * number}" font-size="11" fill="{color}" '
                     f'font-family="sans-serif">{html.escape(label)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def charts(points: Sequence[dict[str, Any]], open_model: dict[str, Any]) -> str:
    """Every chart the run has figures for: throughput always; arrivals, rollout and capacity when they ran."""

    def series(field: str) -> list[tuple[float, float]]:
        return [(point["t"], float(point[field])) for point in points]

    out = [
        line_chart("mbps", "Throughput", "MB/s", [("download MB/s", series("down_mbps")),
                                                   ("upload MB/s", series("up_mbps"))]),  # fmt: skip
        line_chart("images", "Images", "images/s", [("images/s", series("images_per_s"))]),
    ]
    arrivals = open_model.get("arrivals", {}).get("entries", {})
    if arrivals:
        target = sum(figures["target_per_s"] or 0 for figures in arrivals.values())
        lines: list[Series] = [("achieved/s", series("arrivals_per_s")), ("dropped/s", series("dropped_per_s"))]
        if target:
            lines.append((f"target {target:g}/s", [(point["t"], target) for point in points]))
        out.append(line_chart("arrivals", "Arrivals", "per s", lines))
    if "rollout" in open_model:
        out.append(line_chart("rollout", "Rollout: nodes done", "nodes", [("nodes done", series("nodes_done"))]))
    capacity = open_model.get("capacity")
    if capacity and capacity["steps"]:
        steps = sorted(capacity["steps"], key=lambda step: step["rate_per_s"])
        curve: list[Series] = [("p95 ms", [(step["rate_per_s"], step["p95_ms"]) for step in steps]),
                               ("p99 ms", [(step["rate_per_s"], step["p99_ms"]) for step in steps])]  # fmt: skip
        out.append(line_chart("capacity", f"Capacity: {capacity['entry']}", "ms", curve, "arrivals/s"))
    return "\n".join(out)


def page(body: str, refresh: bool) -> str:
    meta = '<meta http-equiv="refresh" content="3">' if refresh else ""
    return (f"<!doctype html><html><head><meta charset=\"utf-8\">{meta}<title>Registry charts</title></head>"
            f'<body style="font-family: sans-serif; margin: 1em"><h2>Registry: over time</h2>'
            f'<section id="registry-charts">{body}</section></body></html>')  # fmt: skip
