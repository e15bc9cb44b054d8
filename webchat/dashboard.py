"""Stacked bar charts as plain SVG shapes for the admin dashboard (no script, no library)."""

import math
from datetime import date
from typing import Any

from django.utils import dateformat, formats

PALETTE = ["#1f6feb", "#f0883e", "#2da44e", "#a371f7", "#e5534b", "#0bb7c2", "#bf8700", "#8c959f"]
# The scale is written on both sides: a phone shows the chart's latest days first.
WIDTH, HEIGHT, LEFT, RIGHT, BOTTOM, TOP = 760, 240, 64, 64, 28, 10


def _nice_max(value: float) -> float:
    """A round number at or above `value` for the axis: 1, 2, 2.5 or 5 times a power of 10."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _label(value: float, unit: str) -> str:
    if unit == "USD":
        if 0 < value < 0.1:
            # Two significant digits, so that an axis's steps read apart ($0.00015, not
            # $0.0002 twice).
            digits = 1 - math.floor(math.log10(value))
            return "$" + f"{value:.{digits}f}".rstrip("0")
        return f"${value:,.2f}"
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def bar_chart(
    dates: list[date],
    values: dict[tuple[date, str], float],
    unit: str,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Bars per day, stacked per model; every shape carries a <title> for hover. `names`:
    the catalog's name of each model id (one taken out of the catalog shows its id)."""
    models = sorted({model for _, model in values})
    named = {model: (names or {}).get(model, model) for model in models}
    colors = {model: PALETTE[i % len(PALETTE)] for i, model in enumerate(models)}
    day_totals = [sum(values.get((day, m), 0) for m in models) for day in dates]
    top = _nice_max(max(day_totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(dates), 1)
    bar_w = max(2.0, slot * 0.7)
    bars = []
    for i, day in enumerate(dates):
        y = TOP + plot_h
        for model in models:
            value = values.get((day, model), 0)
            if not value:
                continue
            h = value / top * plot_h
            y -= h
            bars.append(
                {
                    "x": round(LEFT + i * slot + (slot - bar_w) / 2, 1),
                    "y": round(y, 1),
                    "w": round(bar_w, 1),
                    "h": round(h, 1),
                    "fill": colors[model],
                    "title": f"{formats.date_format(day, 'SHORT_DATE_FORMAT')} · {named[model]}: "
                    f"{_label(value, unit)}",
                }
            )
    ticks = [
        {"y": round(TOP + plot_h - f * plot_h, 1), "label": _label(top * f, unit)}
        for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    every = max(1, len(dates) // 8)
    labels = [
        # The month's short name in the reader's language.
        {"x": round(LEFT + i * slot + slot / 2, 1), "label": dateformat.format(day, "M j")}
        for i, day in enumerate(dates)
        if i % every == 0
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "baseline": TOP + plot_h,
        "label_y": HEIGHT - 8,
        "bars": bars,
        "ticks": ticks,
        "labels": labels,
        "legend": [{"model": named[m], "fill": colors[m]} for m in models],
        "empty": not bars,
        "unit": unit,
    }
