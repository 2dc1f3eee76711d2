"""Koos leaderboard: MA-MAE with the evaluation's policy and a vectorised bootstrap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmoda.evaluation.koos import ma_mae
from crossmoda.ranking.bootstrap import BootstrapError, resample_counts
from crossmoda.ranking.koos_board import koos_grades, koos_leaderboard, ma_mae_resampled
from crossmoda.ranking.scores import ScoreTableError, load_scores


def test_grades_and_leaderboard_by_hand(team_folder: Path) -> None:
    koos = load_scores(team_folder).koos
    teams, cases, ref, pred, n_missing = koos_grades(koos)
    assert teams == ["bad", "good"] and len(cases) == 4  # the post-operative case is not scored
    assert ref.tolist() == [1, 1, 2, 4]
    assert pred[0].tolist() == [1, 2, 2, 1]  # missing prediction for grade 4 -> worst grade 1
    assert n_missing.tolist() == [1, 0]
    board = koos_leaderboard(koos, n_resamples=200, seed=1)
    # bad: grade 1 errors (0, 1) -> .5, grade 2 -> 0, grade 4 -> 3: (0.5 + 0 + 3) / 3
    np.testing.assert_allclose(board.ranking.score, [3.5 / 3, 0.0])
    assert board.ranking.rank.tolist() == [2, 1]
    assert board.ci_low[1] == board.ci_high[1] == 0.0
    assert board.ci_low[0] <= board.ranking.score[0] <= board.ci_high[0]
    assert board.accuracy.tolist() == [0.5, 1.0]
    again = koos_leaderboard(koos, n_resamples=200, seed=1)
    assert np.array_equal(board.ci_low, again.ci_low)


def test_resampled_ma_mae_equals_evaluation_function() -> None:
    rng = np.random.default_rng(4)
    ref = rng.integers(1, 5, size=25)
    pred = rng.integers(1, 5, size=(3, 25))
    counts = resample_counts(25, 20, np.random.default_rng(0))
    ours = ma_mae_resampled(ref, pred, counts)
    for b in range(20):
        idx = np.repeat(np.arange(25), counts[b])
        for t in range(3):
            np.testing.assert_allclose(ours[b, t], ma_mae(ref[idx], pred[t, idx]), rtol=1e-12)


def test_inconsistent_references_and_single_case() -> None:
    with pytest.raises(ScoreTableError, match="differs between teams"):
        koos_grades({"a": {"c1": {"reference": 1, "prediction": 1}},
                     "b": {"c1": {"reference": 2, "prediction": 1}}})
    one = {"a": {"c1": {"reference": 1, "prediction": 1}}}
    with pytest.raises(BootstrapError, match="at least two"):
        koos_leaderboard(one, n_resamples=10)
    assert koos_leaderboard(one, n_resamples=0).ranking.score.tolist() == [0.0]
