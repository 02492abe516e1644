"""The balance chart of the funds overview, drawn on the server as inline SVG.

Only the geometry is computed here, in pixels; the template writes the SVG, and the same
figures also go into a table beside it for readers who cannot see the drawing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
LEFT = 96
"""Room for the amounts written beside the vertical axis."""
RIGHT = 12
TOP = 12
BOTTOM = 28


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    text: str
    anchor: str = "middle"
    """How the label sits on its position (``start``, ``middle``, ``end``), so that the
    first and last dates stay inside the drawing."""


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    line: str
    """The ``points`` of the polyline."""
    area: str
    """The ``points`` of the polygon under the line, down to zero."""
    zero: float
    """Where the zero line is drawn."""
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT


def _pixels(value: float) -> str:
    return f"{value:.1f}"


def balance_chart(
    series: Sequence[tuple[dt.date, int]], amount: Callable[[int], str]
) -> Chart | None:
    """The chart of ``series`` (date, balance in minor units), or None when it is empty.

    The vertical scale always takes in zero, so that a balance below zero (credit in use)
    shows below the zero line.
    """
    if not series:
        return None
    values = [value for _, value in series]
    low, high = min(*values, 0), max(*values, 0)
    if high == low:
        high = low + 100
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(series) - 1, 1)

    def x(index: int) -> float:
        return LEFT + index * step

    def y(value: int) -> float:
        return TOP + (high - value) * plot_height / (high - low)

    points = [(x(n), y(value)) for n, value in enumerate(values)]
    line = " ".join(f"{_pixels(px)},{_pixels(py)}" for px, py in points)
    zero = y(0)
    area = " ".join(
        [f"{_pixels(points[0][0])},{_pixels(zero)}"]
        + [f"{_pixels(px)},{_pixels(py)}" for px, py in points]
        + [f"{_pixels(points[-1][0])},{_pixels(zero)}"]
    )
    marks = sorted({high, low, 0}, reverse=True)
    y_ticks = [Tick(y(mark), amount(mark)) for mark in marks]
    last = len(series) - 1
    picked = sorted({0, last // 2, last})
    x_ticks = [
        Tick(
            x(n),
            f"{series[n][0]:%m-%d}",
            "start" if n == 0 and last else "end" if n == last and last else "middle",
        )
        for n in picked
    ]
    return Chart(WIDTH, HEIGHT, line, area, zero, y_ticks, x_ticks)
