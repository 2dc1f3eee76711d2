"""Bootstrap stability of a rank-then-aggregate ranking, fully vectorised.

Each resample draws C cases with replacement. The per-case cumulative ranks stay as computed on all
teams and all cases; the teams' means over the resampled cases are re-ranked (min ties). The
resampled rankings are compared with the full ranking by Kendall's tau-b. All resamples are
processed at once as a (B, C) matrix of case multiplicities: no Python loop over cases or teams;
Kendall's tau-b is vectorised over resamples up to 100 teams and computed per resample beyond.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import kendalltau

from crossmoda.ranking.ranks import min_rank

__all__ = [
    "QUANTILES",
    "BootstrapError",
    "Bootstrap",
    "resample_counts",
    "kendall_tau_b",
    "bootstrap_ranking",
]

QUANTILES: tuple[float, ...] = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)


class BootstrapError(ValueError):
    """The bootstrap cannot run on this input (e.g. a single case)."""


@dataclass
class Bootstrap:
    """Bootstrap result.

    Attributes:
        teams: Team names, shape (T,).
        n_resamples: B.
        seed: Seed of :func:`numpy.random.default_rng`.
        full_rank: Ranking on all cases, shape (T,).
        ranks: Rank of each team in each resample, shape (B, T), int.
        tau: Kendall's tau-b of each resample vs the full ranking, shape (B,); NaN when undefined.
        rank_counts: Number of resamples in which team t had rank r + 1, shape (T, T), int.
    """

    teams: list[str]
    n_resamples: int
    seed: int
    full_rank: npt.NDArray[np.int64]
    ranks: npt.NDArray[np.int64]
    tau: npt.NDArray[np.float64]
    rank_counts: npt.NDArray[np.int64]

    def tau_summary(self) -> dict[str, float | None]:
        """Mean, median, min, max and :data:`QUANTILES` of tau-b (``None`` when undefined)."""
        finite = self.tau[np.isfinite(self.tau)]
        if finite.size == 0:
            return {k: None for k in ("mean", "median", "min", "max", *(f"q{q:g}" for q in QUANTILES))}
        out: dict[str, float | None] = {"mean": float(finite.mean()), "median": float(np.median(finite)),
                                        "min": float(finite.min()), "max": float(finite.max())}
        for q, v in zip(QUANTILES, np.quantile(finite, QUANTILES), strict=True):
            out[f"q{q:g}"] = float(v)
        return out

    def team_summary(self) -> list[dict[str, object]]:
        """Per team: full rank, mean/median rank, 2.5-97.5 % interval, share of resamples at rank 1."""
        q = np.quantile(self.ranks, [0.025, 0.5, 0.975], axis=0)
        return [
            {"team": t, "full_rank": int(self.full_rank[i]), "mean_rank": float(self.ranks[:, i].mean()),
             "median_rank": float(q[1, i]), "rank_2.5pc": float(q[0, i]), "rank_97.5pc": float(q[2, i]),
             "share_first": float(self.rank_counts[i, 0] / self.n_resamples),
             "rank_counts": [int(v) for v in self.rank_counts[i]]}
            for i, t in enumerate(self.teams)
        ]


def resample_counts(n_cases: int, n_resamples: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Multiplicity of each case in each resample, shape (B, C); every row sums to C."""
    idx = rng.integers(0, n_cases, size=(n_resamples, n_cases))
    flat = idx + n_cases * np.arange(n_resamples)[:, None]
    return np.bincount(flat.ravel(), minlength=n_resamples * n_cases).reshape(n_resamples, n_cases)


PAIRWISE_TAU_PAIRS = 5000
"""Up to this many team pairs (100 teams: 4950) tau-b is computed over all pairs and resamples at
once; beyond, per resample with scipy's O(T log T) algorithm (all pairs of 1,000 teams over 1,000
resamples would be 5 x 10^8 signs)."""
CHUNK_ELEMENTS = 2**22
"""Resamples x pairs processed at once by the all-pairs computation (bounds its memory)."""


def kendall_tau_b(reference: npt.ArrayLike, rankings: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Kendall's tau-b of each row of ``rankings`` (B, T) against ``reference`` (T,).

    Returns:
        Shape (B,); NaN where a ranking has all teams tied (tau-b undefined) or T < 2.
    """
    x = np.asarray(reference, dtype=np.float64)
    y = np.atleast_2d(np.asarray(rankings, dtype=np.float64))
    i, j = np.triu_indices(x.size, k=1)
    if i.size == 0:
        return np.full(y.shape[0], np.nan)
    if i.size > PAIRWISE_TAU_PAIRS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.array([kendalltau(x, row).statistic for row in y], dtype=np.float64)
    dx = np.sign(x[i] - x[j]).astype(np.int64)  # (P,)
    untied_x = np.count_nonzero(dx)
    out = np.empty(y.shape[0])
    step = max(1, CHUNK_ELEMENTS // i.size)
    for start in range(0, y.shape[0], step):
        dy = np.sign(y[start:start + step, i] - y[start:start + step, j]).astype(np.int64)  # (b, P)
        concordance = dy @ dx  # (b,) concordant - discordant
        denom = np.sqrt(untied_x * np.count_nonzero(dy, axis=1).astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + step] = np.where(denom > 0, concordance / denom, np.nan)
    return out


def bootstrap_ranking(teams: list[str], case_rank_sum: npt.ArrayLike, n_resamples: int = 1000,
                      seed: int = 0) -> Bootstrap:
    """Bootstrap a rank-then-aggregate ranking over cases.

    Args:
        teams: Team names, shape (T,).
        case_rank_sum: Per-case sum (or mean) of each team's metric ranks, shape (T, C). Integer sums
            keep tie detection exact.
        n_resamples: Number of resamples B (>= 1).
        seed: Seed of :func:`numpy.random.default_rng`.

    Raises:
        BootstrapError: with fewer than two cases or ``n_resamples < 1``.
    """
    s = np.asarray(case_rank_sum, dtype=np.float64)
    n_teams, n_cases = s.shape
    if n_cases < 2:
        raise BootstrapError(
            f"the bootstrap needs at least two cases, got {n_cases}: resampling a single case always "
            "gives the same ranking; run without it (--bootstrap 0)")
    if n_resamples < 1:
        raise BootstrapError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    counts = resample_counts(n_cases, n_resamples, rng).astype(np.float64)
    totals = counts @ s.T  # (B, T); exact for integer sums below 2**53
    ranks = min_rank(totals, axis=1)
    full = min_rank(s.sum(axis=1))
    tau = kendall_tau_b(full, ranks)
    flat = np.arange(n_teams)[None, :] * n_teams + (ranks - 1)
    rank_counts = np.bincount(flat.ravel(), minlength=n_teams * n_teams).reshape(n_teams, n_teams)
    return Bootstrap(list(teams), n_resamples, seed, full, ranks, tau, rank_counts)
