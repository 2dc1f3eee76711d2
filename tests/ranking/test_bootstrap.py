"""Bootstrap stability: resampling, vectorised Kendall tau-b, refusal on one case, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from crossmoda.ranking.bootstrap import (
    BootstrapError,
    bootstrap_ranking,
    kendall_tau_b,
    resample_counts,
)
from crossmoda.ranking.ranks import min_rank


def test_resample_counts_rows_sum_to_cases() -> None:
    counts = resample_counts(7, 50, np.random.default_rng(1))
    assert counts.shape == (50, 7)
    assert (counts.sum(axis=1) == 7).all()
    assert (counts >= 0).all()


def test_kendall_tau_b_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(5)
    ref = np.array([1, 2, 2, 4, 5, 5])
    rankings = rng.integers(1, 5, size=(40, 6))
    ours = kendall_tau_b(ref, rankings)
    expected = [kendalltau(ref, r, variant="b").statistic for r in rankings]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    assert kendall_tau_b([1, 2, 3], [[1, 2, 3], [3, 2, 1]]).tolist() == [1.0, -1.0]
    assert np.isnan(kendall_tau_b([1, 2], [[1, 1]])).all()  # all tied: undefined
    assert np.isnan(kendall_tau_b([1], [[1]])).all()  # one team


def test_bootstrap_equals_explicit_loop() -> None:
    rng = np.random.default_rng(2)
    case_sum = rng.integers(2, 9, size=(5, 9))
    boot = bootstrap_ranking(list("ABCDE"), case_sum, n_resamples=30, seed=11)
    counts = resample_counts(9, 30, np.random.default_rng(11))
    for b in range(30):
        resampled = np.repeat(np.arange(9), counts[b])
        expected = min_rank(case_sum[:, resampled].mean(axis=1))
        assert boot.ranks[b].tolist() == expected.tolist()
    assert boot.rank_counts.sum(axis=1).tolist() == [30] * 5
    assert boot.full_rank.tolist() == min_rank(case_sum.sum(axis=1)).tolist()


def test_single_case_refused_with_clear_message() -> None:
    with pytest.raises(BootstrapError, match="at least two cases, got 1.*--bootstrap 0"):
        bootstrap_ranking(["A", "B"], [[1], [2]], n_resamples=10, seed=0)


def test_same_seed_same_result_other_seed_differs() -> None:
    rng = np.random.default_rng(9)
    case_sum = rng.integers(2, 12, size=(6, 40))
    a = bootstrap_ranking(list("ABCDEF"), case_sum, 200, seed=7)
    b = bootstrap_ranking(list("ABCDEF"), case_sum, 200, seed=7)
    c = bootstrap_ranking(list("ABCDEF"), case_sum, 200, seed=8)
    assert np.array_equal(a.ranks, b.ranks) and np.array_equal(a.tau, b.tau, equal_nan=True)
    assert a.tau_summary() == b.tau_summary()
    assert not np.array_equal(a.ranks, c.ranks)


def test_clear_winner_is_stable() -> None:
    # Team A ranks 1 in every case, B 2, C 3: every resample gives the full ranking, tau = 1.
    case_sum = np.repeat(np.array([[1], [2], [3]]), 10, axis=1)
    boot = bootstrap_ranking(["A", "B", "C"], case_sum, 100, seed=0)
    assert (boot.tau == 1.0).all()
    assert boot.tau_summary()["min"] == 1.0
    assert boot.rank_counts.tolist() == [[100, 0, 0], [0, 100, 0], [0, 0, 100]]
    summary = boot.team_summary()
    assert summary[0]["share_first"] == 1.0 and summary[2]["rank_97.5pc"] == 3.0
