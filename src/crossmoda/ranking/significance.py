"""Test-then-rank (challengeR's ``testThenRank``): pairwise one-sided paired Wilcoxon tests.

For every ordered pair of teams (i, j) the per-case cumulative ranks of i and j are compared with a
one-sided paired Wilcoxon signed-rank test, alternative "i has lower (better) ranks than j", with
R's ``wilcox.test`` defaults, as challengeR uses it: zero differences dropped, exact p-values for
fewer than 50 differences without ties or zeros, otherwise the normal approximation with tie
correction and continuity correction. A team's score is the share of the other teams
it beats significantly; higher is better and exact ties share a rank.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import wilcoxon

from crossmoda.ranking.ranks import Ranking, min_rank

__all__ = ["Adjustment", "Significance", "holm", "pairwise_wilcoxon", "test_then_rank"]

Adjustment = Literal["none", "holm"]


@dataclass
class Significance:
    """Pairwise test results.

    Attributes:
        teams: Team names, shape (T,).
        p_values: One-sided p-value "row team better than column team", shape (T, T); the diagonal
            is NaN; pairs whose per-case ranks are identical get 1.
        adjusted: ``p_values`` after the adjustment (same as ``p_values`` for ``none``).
        significant: ``adjusted < alpha``, shape (T, T), bool.
        alpha: Significance level.
        adjustment: ``none`` or ``holm`` (over all T(T-1) ordered pairs).
        ranking: The test-then-rank ranking.
    """

    teams: list[str]
    p_values: npt.NDArray[np.float64]
    adjusted: npt.NDArray[np.float64]
    significant: npt.NDArray[np.bool_]
    alpha: float
    adjustment: str
    ranking: Ranking


def holm(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm step-down adjusted p-values of a 1-D array (R's ``p.adjust(p, "holm")``)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def pairwise_wilcoxon(per_case: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """One-sided paired Wilcoxon p-values for all ordered team pairs.

    Args:
        per_case: Per-case cumulative ranks, shape (T, C), lower is better.

    Returns:
        Shape (T, T): entry (i, j) tests "team i ranks lower than team j"; NaN on the diagonal,
        1 where the two teams' per-case ranks are identical.
    """
    x = np.asarray(per_case, dtype=np.float64)
    n_teams = x.shape[0]
    p = np.full((n_teams, n_teams), np.nan)
    if n_teams < 2:
        return p
    off = ~np.eye(n_teams, dtype=bool)
    diff = (x[:, None, :] - x[None, :, :])[off]  # (T(T-1), C)
    result = np.ones(diff.shape[0])
    nonzero = diff != 0
    testable = nonzero.any(axis=1)
    # R's rule: exact p-values for fewer than 50 non-zero differences without ties or zeros.
    magnitude = np.sort(np.abs(diff), axis=1)
    tied = np.any((magnitude[:, 1:] == magnitude[:, :-1]) & (magnitude[:, 1:] > 0), axis=1)
    exact = (nonzero.sum(axis=1) < 50) & ~tied & nonzero.all(axis=1)
    for rows, method in ((testable & exact, "exact"), (testable & ~exact, "asymptotic")):
        if rows.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                pv = wilcoxon(diff[rows], axis=1, alternative="less", zero_method="wilcox",
                              correction=True, method=method).pvalue
            result[rows] = np.where(np.isnan(pv), 1.0, pv)
    p[off] = result
    return p


def test_then_rank(teams: list[str], per_case: npt.ArrayLike, alpha: float = 0.05,
                   adjustment: Adjustment = "none") -> Significance:
    """Rank teams by the share of other teams they beat significantly (see module docstring).

    Args:
        teams: Team names, shape (T,).
        per_case: Per-case cumulative ranks, shape (T, C), lower is better.
        alpha: Significance level.
        adjustment: ``none`` (default, as challengeR) or ``holm``.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p = pairwise_wilcoxon(per_case)
    n_teams = len(teams)
    off = ~np.eye(n_teams, dtype=bool)
    adjusted = p.copy()
    if adjustment == "holm":
        adjusted[off] = holm(p[off])
    elif adjustment != "none":
        raise ValueError(f"adjustment must be 'none' or 'holm', got {adjustment!r}")
    significant = np.zeros((n_teams, n_teams), dtype=bool)
    significant[off] = adjusted[off] < alpha
    wins = significant.sum(axis=1)
    score = wins / max(n_teams - 1, 1)
    ranking = Ranking(
        name="test-then-rank", teams=list(teams), score=score.astype(np.float64), rank=min_rank(-wins),
        lower_is_better=False, n_cases=int(np.asarray(per_case).shape[1]),
        description=(f"share of other teams beaten by a one-sided paired Wilcoxon test on the per-case "
                     f"cumulative ranks (alpha {alpha}, adjustment {adjustment})"),
    )
    return Significance(list(teams), p, adjusted, significant, alpha, adjustment, ranking)
