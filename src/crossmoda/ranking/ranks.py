"""Ranking schemes: rank-then-aggregate (crossMoDA/BraTS), its variants, aggregate-then-rank.

Conventions: ``values`` have shape (T, C, M) = (teams, cases, metric columns); the direction of
each column comes from its :class:`~crossmoda.core.metrics_spec.MetricSpec`. A rank is
``1 + number of teams strictly better`` (ties share the minimum rank). Final scores are ranked
the same way, so exact ties share a rank; ties are decided on exact integer rank sums, never on
rounded floating-point means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from crossmoda.core.cases import parse_case
from crossmoda.core.errors import CaseNameError
from crossmoda.ranking.scores import ScoreTable

__all__ = [
    "VARIANTS",
    "Ranking",
    "RankThenAggregate",
    "min_rank",
    "badness",
    "metric_ranks",
    "rank_then_aggregate",
    "aggregate_then_rank",
    "site_of",
    "variant_tables",
]

VARIANTS: tuple[str, ...] = ("dice", "assd", "vs", "cochlea", "site")
"""Variant names of :func:`variant_tables`; ``site`` expands to one ranking per site."""


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@dataclass
class Ranking:
    """A ranking of teams.

    Attributes:
        name: Short name (``"rank-then-aggregate"``, ``"dice"``, ``"site:ldn"``, ...).
        teams: Team names, shape (T,).
        score: Score per team, shape (T,).
        rank: Rank per team (1 = best, ties share the minimum), shape (T,).
        lower_is_better: Direction of ``score``.
        description: One line for reports.
        n_cases: Number of cases the ranking uses.
        columns: Metric columns the ranking uses.
    """

    name: str
    teams: list[str]
    score: npt.NDArray[np.float64]
    rank: npt.NDArray[np.int64]
    lower_is_better: bool
    description: str = ""
    n_cases: int = 0
    columns: list[str] = field(default_factory=list)

    def order(self) -> list[int]:
        """Team indices best first (ties by team name)."""
        return sorted(range(len(self.teams)), key=lambda i: (int(self.rank[i]), self.teams[i]))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, best first (a NaN score, e.g. of an untested team, as ``None``)."""
        return {
            "name": self.name, "description": self.description, "lower_is_better": self.lower_is_better,
            "n_cases": self.n_cases, "columns": self.columns,
            "teams": [{"team": self.teams[i], "rank": int(self.rank[i]), "score": _finite(self.score[i])}
                      for i in self.order()],
        }


@dataclass
class RankThenAggregate:
    """Result of :func:`rank_then_aggregate`.

    Attributes:
        ranking: Final ranking (score = mean per-case cumulative rank, lower is better).
        metric_ranks: Rank of each team per case and column, shape (T, C, M), int.
        case_rank_sum: Sum of a team's column ranks per case, shape (T, C), int.
        per_case: Per-case cumulative rank (mean over columns), shape (T, C).
    """

    ranking: Ranking
    metric_ranks: npt.NDArray[np.int64]
    case_rank_sum: npt.NDArray[np.int64]
    per_case: npt.NDArray[np.float64]


def min_rank(badness_values: npt.ArrayLike, axis: int = 0) -> npt.NDArray[np.int64]:
    """``1 + number of entries strictly lower`` along ``axis`` (lower = better; min ties)."""
    return rankdata(np.asarray(badness_values, dtype=np.float64), method="min", axis=axis).astype(np.int64)


def badness(table: ScoreTable) -> npt.NDArray[np.float64]:
    """Values turned so that lower is better for every column, shape (T, C, M)."""
    sign = np.array([-1.0 if s.higher_is_better else 1.0 for s in table.specs])
    return table.values * sign[None, None, :]


def metric_ranks(table: ScoreTable) -> npt.NDArray[np.int64]:
    """Rank of each team per case and column, shape (T, C, M) (no NaN allowed)."""
    if np.isnan(table.values).any():
        raise ValueError("missing values: apply the missing-value policy first")
    return min_rank(badness(table), axis=0)


def rank_then_aggregate(table: ScoreTable, name: str = "rank-then-aggregate",
                        description: str = "") -> RankThenAggregate:
    """crossMoDA/BraTS ranking: per-case column ranks -> mean per case -> mean over cases."""
    ranks = metric_ranks(table)
    n_cols, n_cases = len(table.columns), len(table.cases)
    case_sum = ranks.sum(axis=2)
    total = case_sum.sum(axis=1)
    ranking = Ranking(
        name=name, teams=list(table.teams), score=total / (n_cols * n_cases), rank=min_rank(total),
        lower_is_better=True, n_cases=n_cases, columns=list(table.columns),
        description=description or f"mean over cases of the mean rank over {', '.join(table.columns)}",
    )
    return RankThenAggregate(ranking, ranks, case_sum, case_sum / n_cols)


def aggregate_then_rank(table: ScoreTable, statistic: str = "mean") -> Ranking:
    """Aggregate each column over cases (``mean`` or ``median``), rank teams per column, then
    average the column ranks (lower is better; exact ties share a rank)."""
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    if np.isnan(table.values).any():
        raise ValueError("missing values: apply the missing-value policy first")
    turned = badness(table)
    aggregated = turned.mean(axis=1) if statistic == "mean" else np.median(turned, axis=1)  # (T, M)
    col_ranks = min_rank(aggregated, axis=0)
    total = col_ranks.sum(axis=1)
    return Ranking(
        name=f"aggregate-then-rank ({statistic})", teams=list(table.teams),
        score=total / len(table.columns), rank=min_rank(total), lower_is_better=True,
        n_cases=len(table.cases), columns=list(table.columns),
        description=f"{statistic} of each metric over cases, ranked per metric, mean of the metric ranks",
    )


def site_of(case: str) -> str | None:
    """Site code of a crossMoDA case name (``crossmoda2022_etz_12`` -> ``etz``), else ``None``."""
    try:
        return parse_case(case).site
    except CaseNameError:
        return None


def _structure_and_metric(column: str, table: ScoreTable) -> tuple[str, str]:
    spec = table.specs[table.columns.index(column)]
    structure = column[: -len(spec.name)].rstrip("_")
    return structure.lower(), spec.name


def variant_tables(table: ScoreTable, variants: tuple[str, ...] | list[str] = VARIANTS
                   ) -> dict[str, tuple[ScoreTable, str]]:
    """Sub-tables for the ranking variants, name -> (table, description).

    ``dice``/``assd``: the columns whose metric spec is Dice / an ASSD; ``vs``/``cochlea``: the
    columns of that structure; ``site``: one sub-table per site found in the case names
    (``site:ldn``, ...). Variants with no matching column or case are left out.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    parts = {c: _structure_and_metric(c, table) for c in table.columns}
    selectors = {
        "dice": ([c for c, (_, m) in parts.items() if m == "Dice"], "Dice columns only"),
        "assd": ([c for c, (_, m) in parts.items() if m.startswith("ASSD")], "ASSD columns only"),
        "vs": ([c for c, (s, _) in parts.items() if s == "vs"], "VS columns only"),
        "cochlea": ([c for c, (s, _) in parts.items() if s == "cochlea"], "cochlea columns only"),
    }
    out: dict[str, tuple[ScoreTable, str]] = {}
    for name in variants:
        if name == "site":
            sites = np.array([site_of(c) or "" for c in table.cases])
            for site in sorted(set(sites.tolist()) - {""}):
                keep = sites == site
                cases = [c for c, k in zip(table.cases, keep.tolist(), strict=True) if k]
                sub = ScoreTable(table.teams, cases, table.columns, table.values[:, keep, :],
                                 source=table.source)
                out[f"site:{site}"] = (sub, f"cases of site {site} only ({int(keep.sum())} cases)")
        else:
            cols, text = selectors[name]
            if cols:
                out[name] = (table.select(cols), f"{text}: {', '.join(cols)}")
    return out
