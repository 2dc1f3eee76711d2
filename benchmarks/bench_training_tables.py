"""Markdown tables of the training benchmark from its per-case results (pure pandas, no I/O).

The per-case frame has one line per (row, case) with the columns ``row``, ``case``, ``site``,
``acquisition``, the metric columns ``<Structure>_Dice`` / ``<Structure>_ASSD`` (mm) of the
row's label map, ``seconds`` (prediction wall time, NaN when unknown) and ``error`` (empty, or
why the case was refused and scored with the worst values). Means and standard deviations are
over cases (population std, ``ddof=0``), refused cases included with their worst values.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "CASE_COLUMNS",
    "STRUCTURE_ORDER",
    "metric_columns",
    "structure_title",
    "summary_table",
    "group_table",
    "refused_lines",
]

CASE_COLUMNS = ("row", "case", "site", "acquisition")
"""Identifying columns of the per-case frame (then the metrics, ``seconds`` and ``error``)."""

STRUCTURE_ORDER = ("ExtraMeatalVS", "IntraMeatalVS", "VS", "Cochlea")
"""Table order of the structures (2022: VS, Cochlea; 2023: the VS parts, the whole VS, Cochlea);
other structures follow in the frame's order."""

_TITLES = {"ExtraMeatalVS": "Extra-meatal VS", "IntraMeatalVS": "Intra-meatal VS"}
_METRICS = (("Dice", "", 3), ("ASSD", " (mm)", 2))  # name, header unit, decimals
SITE_ORDER = ("ldn", "etz", "ukm")


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The frame's ``<Structure>_Dice`` / ``_ASSD`` columns in table order (structure by
    :data:`STRUCTURE_ORDER`, Dice before ASSD)."""
    names = [m for m, _, _ in _METRICS]
    structures: list[str] = []
    for col in frame.columns:
        structure, _, metric = str(col).rpartition("_")
        if structure and metric in names and structure not in structures:
            structures.append(structure)
    rank = {s: i for i, s in enumerate(STRUCTURE_ORDER)}
    ordered = sorted(structures, key=lambda s: (rank.get(s, len(rank)), structures.index(s)))
    return [f"{s}_{m}" for s in ordered for m in names if f"{s}_{m}" in frame.columns]


def structure_title(structure: str, structures: list[str]) -> str:
    """Header text of ``structure``: ``VS`` is ``Whole VS`` when its parts are columns too."""
    if structure == "VS" and any(s in _TITLES for s in structures):
        return "Whole VS"
    return _TITLES.get(structure, structure)


def _header(columns: list[str]) -> str:
    structures = [c.rpartition("_")[0] for c in columns]
    units = {m: unit for m, unit, _ in _METRICS}
    return " | ".join(
        f"{structure_title(s, structures)} {c.rpartition('_')[2]}{units[c.rpartition('_')[2]]}"
        for s, c in zip(structures, columns, strict=True)
    )


def _cell(values: pd.Series, decimals: int) -> str:
    """``mean +- std`` (population std) of the non-missing values; ``n/a`` when there are none."""
    v = values.dropna().astype(float)
    if v.empty:
        return "n/a"
    return f"{v.mean():.{decimals}f} +- {v.std(ddof=0):.{decimals}f}"


def _cells(group: pd.DataFrame, columns: list[str]) -> list[str]:
    decimals = {m: d for m, _, d in _METRICS}
    return [_cell(group[c], decimals[c.rpartition("_")[2]]) for c in columns]


def _seconds(group: pd.DataFrame) -> str:
    s = group["seconds"].dropna() if "seconds" in group else pd.Series(dtype=float)
    return "n/a" if s.empty else f"{float(s.mean()):.1f}"


def _refused(group: pd.DataFrame) -> int:
    return int(group["error"].fillna("").astype(str).ne("").sum()) if "error" in group else 0


def summary_table(frame: pd.DataFrame) -> str:
    """One line per row: ``mean +- std`` of every metric column (Dice 3 decimals, ASSD 2), rows
    in sorted order (``"1 ..."``, ``"2 ..."``)."""
    columns = metric_columns(frame)
    lines = [f"| row | {_header(columns)} |", "|" + "---|" * (len(columns) + 1)]
    for row, group in frame.groupby("row", sort=True):
        lines.append(f"| {row} | " + " | ".join(_cells(group, columns)) + " |")
    return "\n".join(lines)


def _group_order(by: str, values: list[str]) -> list[str]:
    if by == "site":
        rank = {s: i for i, s in enumerate(SITE_ORDER)}
        return sorted(values, key=lambda v: (rank.get(v, len(rank)), v))
    return sorted(values, key=lambda v: (v != "3D", v))  # 3D first, then 2D acquisitions


def group_table(frame: pd.DataFrame, by: str) -> str:
    """One line per (row, value of column ``by``, e.g. ``site`` or ``acquisition``): number of
    cases, refused cases, ``mean +- std`` of every metric column and mean seconds per case."""
    columns = metric_columns(frame)
    lines = [f"| row | {by} | n | refused | {_header(columns)} | s/case |",
             "|" + "---|" * (len(columns) + 5)]
    data = frame.assign(**{by: frame[by].fillna("").astype(str).replace("", "unknown")})
    for row, rows in data.groupby("row", sort=True):
        for value in _group_order(by, list(rows[by].unique())):
            group = rows[rows[by] == value]
            lines.append(f"| {row} | {value} | {len(group)} | {_refused(group)} | "
                         + " | ".join(_cells(group, columns)) + f" | {_seconds(group)} |")
    return "\n".join(lines)


def refused_lines(frame: pd.DataFrame) -> list[str]:
    """Markdown list of the refused cases (``row: case: reason``), empty when there are none."""
    if "error" not in frame:
        return []
    bad = frame[frame["error"].fillna("").astype(str).ne("")]
    return [f"- {r.row}: {r.case}: {r.error}" for r in bad.sort_values(["row", "case"]).itertuples()]
