"""Metric specifications: what each metric column means and which direction is better.

The evaluation computes the metrics; the ranking reads :attr:`MetricSpec.higher_is_better` and
:attr:`MetricSpec.worst` from here and never infers a direction from a column's name.
Columns are named ``<Structure>_<Metric>`` (``VS_Dice``, ``Cochlea_ASSD``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["ASSD_CAP_MM", "MetricSpec", "METRICS", "column_spec", "column_name", "CHALLENGE_COLUMNS"]

ASSD_CAP_MM = 350.0
"""crossMoDA's ASSD for a structure that was not predicted, in mm."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric.

    Attributes:
        name: Metric name (column suffix), e.g. ``"Dice"``.
        higher_is_better: Direction used by every ranking.
        worst: Value given to a missing or failed case (Dice 0, ASSD the cap).
        best: Best attainable value.
        unit: Unit of the values (``""`` for fractions).
        description: One line for reports.
        minimum: Smallest valid value (inclusive).
        maximum: Largest valid value (inclusive), or ``None`` when unbounded (distances: a
            distance cap other than the default may be configured).
    """

    name: str
    higher_is_better: bool
    worst: float
    best: float
    unit: str = ""
    description: str = ""
    minimum: float = 0.0
    maximum: float | None = None

    def in_range(self, value: float) -> bool:
        """Whether ``value`` is a valid value of this metric (NaN and infinities are not)."""
        if not math.isfinite(value) or value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum

    def range_text(self) -> str:
        """The valid range, e.g. ``[0, 1]`` or ``>= 0``."""
        if self.maximum is None:
            return f">= {self.minimum:g}"
        return f"[{self.minimum:g}, {self.maximum:g}]"

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return asdict(self)


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("Dice", True, 0.0, 1.0, "", "Dice similarity coefficient", 0.0, 1.0),
        MetricSpec("ASSD", False, ASSD_CAP_MM, 0.0, "mm",
                   "average symmetric surface distance (medpy 0.4: mean of the two directed means)"),
        MetricSpec("ASSDPooled", False, ASSD_CAP_MM, 0.0, "mm",
                   "pooled ASSD over both surfaces (medpy >= 0.5.2, MONAI)"),
        MetricSpec("ASSDSurfel", False, ASSD_CAP_MM, 0.0, "mm",
                   "surfel-area weighted ASSD (DeepMind surface-distance)"),
        MetricSpec("HD95", False, ASSD_CAP_MM, 0.0, "mm", "95th percentile Hausdorff distance"),
        MetricSpec("MA_MAE", False, 3.0, 0.0, "grades", "macro-averaged mean absolute error (Koos)",
                   0.0, 3.0),
        MetricSpec("macro_F1", True, 0.0, 1.0, "", "macro-averaged F1 (Koos)", 0.0, 1.0),
        MetricSpec("accuracy", True, 0.0, 1.0, "", "accuracy (Koos)", 0.0, 1.0),
    )
}

CHALLENGE_COLUMNS: tuple[str, ...] = ("VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD")
"""The four crossMoDA 2022 segmentation columns, in the challenge's order."""


def column_name(structure: str, metric: str) -> str:
    """``column_name("VS", "Dice") == "VS_Dice"``."""
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
    return f"{structure}_{metric}"


def column_spec(column: str) -> MetricSpec:
    """The spec of a ``<Structure>_<Metric>`` column (exact metric names only).

    Raises:
        KeyError: when the column does not end in a registered metric name.
    """
    for name in sorted(METRICS, key=len, reverse=True):
        if column == name or column.endswith("_" + name):
            return METRICS[name]
    raise KeyError(f"column {column!r} names no registered metric; known: {sorted(METRICS)}")
