"""Test-then-rank: pairwise one-sided paired Wilcoxon tests and Holm's adjustment."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata, wilcoxon

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


def r_wilcox_less(x: np.ndarray, y: np.ndarray) -> float:
    """R's ``wilcox.test(x, y, paired=TRUE, alternative="less")`` written out (stats source)."""
    d = (x - y)[x != y]
    n = d.size
    r = rankdata(np.abs(d))
    v = r[d > 0].sum()
    ties = np.unique(r, return_counts=True)[1]
    if n < 50 and ties.max() == 1 and d.size == x.size:  # exact: P(V <= v), V ~ signed-rank(n)
        counts = np.zeros(n * (n + 1) // 2 + 1)
        counts[0] = 1
        for k in range(1, n + 1):
            counts[k:] = counts[k:] + counts[:-k].copy()
        return float(counts[: int(v) + 1].sum() / 2.0**n)
    sigma = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - np.sum(ties**3 - ties) / 48)
    return float(norm.cdf((v - n * (n + 1) / 4 + 0.5) / sigma))  # continuity correction -(-0.5)


def test_pairwise_matches_r_wilcox_test() -> None:
    rng = np.random.default_rng(8)
    # Ties and zeros with few cases (R: normal approximation; scipy's "auto" would permute).
    tied = rng.integers(1, 4, size=(3, 12)).astype(float)
    # No ties, no zeros, 20 cases (R: exact); 60 cases (R: normal approximation).
    signed = rng.permutation(np.arange(1.0, 21.0)) * rng.choice([-1.0, 1.0], 20)
    exact = np.vstack([signed, np.zeros(20)])  # |differences| 1..20: distinct, no zero
    large = rng.normal(size=(2, 60))
    for per_case in (tied, exact, large):
        p = sig.pairwise_wilcoxon(per_case)
        for i in range(per_case.shape[0]):
            for j in range(per_case.shape[0]):
                if i != j:
                    np.testing.assert_allclose(p[i, j], r_wilcox_less(per_case[i], per_case[j]), rtol=1e-9)


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
