"""Shared pieces of the ranking figures: canvas, colours, value axes, p-value labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "MM_FLOOR", "new_figure", "team_colours", "set_value_axis", "format_p"]

DPI = 150
MM_FLOOR = 0.01
"""Distances below this (mm), zeros included, are drawn at it on the log axes (a hundredth of a
millimetre is far below any voxel size; the tables keep the exact values)."""


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure (inches) on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def team_colours(n: int) -> list[Any]:
    """Distinct, fairly dark colours: tab10, then Dark2, then evenly spaced hues."""
    from matplotlib import colormaps

    base = [colormaps["tab10"](i) for i in range(10)] + [colormaps["Dark2"](i) for i in range(8)]
    if n <= len(base):
        return base[:n]
    hsv = colormaps["hsv"]
    return base + [hsv(k / (n - len(base) + 1)) for k in range(n - len(base))]


def _mm_label(value: float, _pos: Any = None) -> str:
    return f"{value:g}"


def set_value_axis(ax: Any, values: npt.NDArray[np.float64], unit: str, label: str) -> None:
    """x axis of a metric panel: log for distances (values below :data:`MM_FLOOR` drawn at it,
    plain labels at 1, 2, 5 x 10^k, or at the decades only when the range spans more than two),
    the whole [0, 1] for scores in that range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if unit == "mm":
        shown = np.maximum(values, MM_FLOOR)
        lo, hi = float(shown.min()), float(shown.max())
        hi = max(hi, lo * 1.5)
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.25, hi * 1.25)
        subs = (1.0,) if hi / lo > 100 else (1.0, 2.0, 5.0)
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=subs))
        ax.xaxis.set_major_formatter(FuncFormatter(_mm_label))
        ax.xaxis.set_minor_formatter(NullFormatter())
        floored = bool(np.any(values < MM_FLOOR))
        label = f"{label} (mm)" + (f"\nvalues < {MM_FLOOR:g} drawn at {MM_FLOOR:g}" if floored else "")
    else:
        if np.all((values >= 0) & (values <= 1)):
            ax.set_xlim(-0.03, 1.03)  # Dice-like scores on their whole range: comparable across panels
        label = f"{label} ({unit})" if unit else label
    ax.set_xlabel(label)
    ax.grid(axis="x", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)


def format_p(p: float) -> str:
    """A p-value for a figure cell: two significant digits (``0.0039``, ``0.060``, ``1.0``),
    ``<0.001`` below a thousandth, empty for NaN."""
    if not np.isfinite(p):
        return ""
    if p < 0.001:
        return "<0.001"
    return f"{p:#.2g}"
