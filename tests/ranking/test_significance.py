"""Test-then-rank: pairwise one-sided paired Wilcoxon tests and Holm's adjustment."""

from __future__ import annotations

import numpy as np
from scipy.stats import wilcoxon

from crossmoda.ranking import significance as sig


def test_holm_by_hand() -> None:
    # sorted .01, .02, .04 -> x3, x2, x1 = .03, .04, .04 (monotone); R: p.adjust(c(.04,.01,.02),"holm")
    np.testing.assert_allclose(sig.holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(sig.holm([0.5, 0.9]), [1.0, 1.0])  # .5 x 2 = 1, then monotone
    assert sig.holm([]).size == 0


def test_pairwise_matches_scipy_per_pair() -> None:
    rng = np.random.default_rng(3)
    per_case = rng.integers(1, 5, size=(4, 30)).astype(float)
    per_case[3] = per_case[2]  # identical teams -> p = 1
    p = sig.pairwise_wilcoxon(per_case)
    assert np.isnan(np.diag(p)).all()
    assert p[2, 3] == 1.0 and p[3, 2] == 1.0
    for i, j in [(0, 1), (1, 0), (0, 2), (2, 1)]:
        expected = wilcoxon(per_case[i], per_case[j], alternative="less", zero_method="wilcox",
                            correction=True).pvalue
        np.testing.assert_allclose(p[i, j], expected, rtol=1e-12)


def test_test_then_rank_by_hand() -> None:
    # A always ranks 1, B always 2, C always 3 over 20 cases: A beats B and C, B beats C.
    per_case = np.repeat(np.array([[1.0], [2.0], [3.0]]), 20, axis=1)
    result = sig.test_then_rank(["A", "B", "C"], per_case)
    assert result.significant.tolist() == [[False, True, True], [False, False, True], [False, False, False]]
    assert result.ranking.score.tolist() == [1.0, 0.5, 0.0]
    assert result.ranking.rank.tolist() == [1, 2, 3]
    # Two identical teams are not different: they share the rank.
    tied = sig.test_then_rank(["A", "B", "C"], per_case[[0, 0, 2]])
    assert tied.ranking.rank.tolist() == [1, 1, 3]


def test_holm_changes_significance() -> None:
    rng = np.random.default_rng(0)
    per_case = np.vstack([rng.normal(0, 1, 12), rng.normal(0.45, 1, 12), rng.normal(0.9, 1, 12)])
    none = sig.test_then_rank(["A", "B", "C"], per_case, alpha=0.05, adjustment="none")
    holm = sig.test_then_rank(["A", "B", "C"], per_case, alpha=0.05, adjustment="holm")
    # Unadjusted, only A beats C (p ~ .026); the smallest of 6 p-values is multiplied by 6.
    assert none.significant.sum() == 1 and none.significant[0, 2]
    assert 0.02 < none.p_values[0, 2] < 0.03
    np.testing.assert_allclose(holm.adjusted[0, 2], 6 * none.p_values[0, 2])
    assert holm.significant.sum() == 0
    assert holm.ranking.rank.tolist() == [1, 1, 1]
