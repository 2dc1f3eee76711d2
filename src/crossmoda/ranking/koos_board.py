"""Koos (task 2) leaderboard: MA-MAE per team with bootstrap confidence intervals over cases.

The per-case grades come from each team's ``metrics.json`` ``koos`` block (``docs/contracts.md``).
The policy is the evaluation's: a case whose reference is ``None`` (post-operative) is not scored;
a scored case without a prediction (``None`` or absent) counts as the grade farthest from the
truth (:func:`crossmoda.evaluation.koos.worst_grade`). Point estimates use the evaluation's
:func:`~crossmoda.evaluation.koos.ma_mae`; the bootstrap evaluates the same definition for all
resamples and teams at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crossmoda.core.koos import GRADES
from crossmoda.evaluation.koos import ma_mae, macro_f1, worst_grade
from crossmoda.ranking.bootstrap import BootstrapError, resample_counts
from crossmoda.ranking.ranks import Ranking, min_rank
from crossmoda.ranking.scores import KoosBlock, ScoreTableError

__all__ = ["KoosBoard", "koos_grades", "ma_mae_resampled", "koos_leaderboard"]


@dataclass
class KoosBoard:
    """Koos leaderboard.

    Attributes:
        ranking: Teams ranked by MA-MAE (lower is better; score = MA-MAE in grades).
        cases: Scored cases, shape (n,).
        ci_low, ci_high: Bootstrap percentile interval of MA-MAE per team, shape (T,) (NaN without
            bootstrap).
        ci_level: Level of the interval, e.g. 0.95.
        macro_f1, accuracy: Per team, shape (T,).
        n_missing: Scored cases without a prediction per team, shape (T,).
        n_resamples, seed: Bootstrap settings.
    """

    ranking: Ranking
    cases: list[str]
    ci_low: npt.NDArray[np.float64]
    ci_high: npt.NDArray[np.float64]
    ci_level: float
    macro_f1: npt.NDArray[np.float64]
    accuracy: npt.NDArray[np.float64]
    n_missing: npt.NDArray[np.int64]
    n_resamples: int
    seed: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, best first (NaN intervals as ``None``)."""
        def num(v: float) -> float | None:
            return float(v) if np.isfinite(v) else None
        r = self.ranking
        return {
            "metric": "MA_MAE", "lower_is_better": True, "n_cases": len(self.cases),
            "ci_level": self.ci_level, "n_resamples": self.n_resamples, "seed": self.seed,
            "teams": [{"team": r.teams[i], "rank": int(r.rank[i]), "MA_MAE": float(r.score[i]),
                       "ci_low": num(self.ci_low[i]), "ci_high": num(self.ci_high[i]),
                       "macro_F1": float(self.macro_f1[i]), "accuracy": float(self.accuracy[i]),
                       "n_missing": int(self.n_missing[i])} for i in r.order()],
        }


def koos_grades(koos: dict[str, KoosBlock]) -> tuple[list[str], list[str], npt.NDArray[np.int64],
                                                     npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Align the teams' Koos blocks.

    Returns:
        teams (T,), scored cases (n,), reference grades (n,), predicted grades (T, n) with missing
        predictions replaced by the worst grade, and the number of missing predictions per team (T,).

    Raises:
        ScoreTableError: when two teams' blocks disagree on a reference grade.
    """
    teams = sorted(koos)
    reference: dict[str, int | None] = {}
    for team in teams:
        for case, entry in koos[team].items():
            ref = entry.get("reference")
            ref = None if ref is None else int(ref)
            if case in reference and reference[case] != ref:
                raise ScoreTableError(None, f"Koos reference of case {case!r} differs between teams "
                                            f"({reference[case]} vs {ref} for {team!r})")
            reference[case] = ref
    cases = sorted(c for c, g in reference.items() if g is not None)
    ref_arr = np.array([reference[c] for c in cases], dtype=np.int64)
    pred = np.zeros((len(teams), len(cases)), dtype=np.int64)
    n_missing = np.zeros(len(teams), dtype=np.int64)
    for t, team in enumerate(teams):
        for n, case in enumerate(cases):
            p = koos[team].get(case, {}).get("prediction")
            if p is None:
                n_missing[t] += 1
                pred[t, n] = worst_grade(int(ref_arr[n]))
            else:
                pred[t, n] = int(p)
    return teams, cases, ref_arr, pred, n_missing


def ma_mae_resampled(reference: npt.ArrayLike, prediction: npt.ArrayLike,
                     counts: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """MA-MAE of every team in every resample.

    Args:
        reference: Reference grades, shape (n,).
        prediction: Predicted grades, shape (T, n).
        counts: Case multiplicities per resample, shape (B, n).

    Returns:
        Shape (B, T): mean over the grades present in the resample of the per-grade mean absolute
        error.
    """
    ref = np.asarray(reference)
    err = np.abs(np.asarray(prediction, dtype=np.float64) - ref[None, :])  # (T, n)
    onehot = (ref[:, None] == np.asarray(GRADES)[None, :]).astype(np.float64)  # (n, G)
    w = np.asarray(counts, dtype=np.float64)
    den = w @ onehot  # (B, G)
    num = np.einsum("bn,tng->btg", w, err[:, :, None] * onehot[None, :, :])
    present = den > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        per_grade = np.where(present[:, None, :], num / den[:, None, :], 0.0)
    return per_grade.sum(axis=2) / present.sum(axis=1)[:, None]


def koos_leaderboard(koos: dict[str, KoosBlock], n_resamples: int = 1000, seed: int = 0,
                     ci_level: float = 0.95) -> KoosBoard:
    """Rank teams by MA-MAE (lower is better) with percentile bootstrap intervals over cases.

    Raises:
        ScoreTableError: when no case has a reference grade.
        BootstrapError: when ``n_resamples > 0`` and fewer than two cases are scored.
    """
    teams, cases, ref, pred, n_missing = koos_grades(koos)
    if not cases:
        raise ScoreTableError(None, "no Koos case with a reference grade")
    score = np.array([ma_mae(ref, pred[t]) for t in range(len(teams))])
    f1 = np.array([macro_f1(ref, pred[t]) for t in range(len(teams))])
    accuracy = (pred == ref[None, :]).mean(axis=1)
    low = np.full(len(teams), np.nan)
    high = np.full(len(teams), np.nan)
    if n_resamples > 0:
        if len(cases) < 2:
            raise BootstrapError(f"the Koos bootstrap needs at least two scored cases, got {len(cases)}")
        counts = resample_counts(len(cases), n_resamples, np.random.default_rng([seed, 2]))
        boot = ma_mae_resampled(ref, pred, counts)
        tail = (1.0 - ci_level) / 2.0
        low, high = np.quantile(boot, [tail, 1.0 - tail], axis=0)
    ranking = Ranking(name="Koos MA-MAE", teams=teams, score=score, rank=min_rank(score),
                      lower_is_better=True, n_cases=len(cases), columns=["MA_MAE"],
                      description="macro-averaged mean absolute error of the Koos grade")
    return KoosBoard(ranking, cases, low, high, ci_level, f1, accuracy, n_missing, n_resamples, seed)
