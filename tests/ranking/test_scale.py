"""Many teams: pairwise tests limited to the leading teams, Kendall tau-b paths, module layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from crossmoda.ranking import bootstrap as boot_mod
from crossmoda.ranking import significance as sig_mod
from crossmoda.ranking.cli import main
from crossmoda.ranking.pipeline import RankingConfig, compute_ranking
from crossmoda.ranking.ranks import min_rank
from crossmoda.ranking.scores import ScoreTable


def graded_table(n_teams: int, n_cases: int, seed: int = 0) -> ScoreTable:
    """Teams of graded skill (team k better than team k + 1 on average), two sites."""
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.9, 0.3, n_teams)[:, None]
    dice = np.clip(skill + rng.normal(0, 0.05, (n_teams, n_cases)), 0, 1)
    assd = np.exp(-3 * skill + rng.normal(0, 0.3, (n_teams, n_cases)))
    values = np.stack([dice, assd], axis=2)
    teams = [f"t{k:03d}" for k in range(n_teams)]
    cases = [f"crossmoda2022_{('etz', 'ldn')[c % 2]}_{c + 1}" for c in range(n_cases)]
    return ScoreTable(teams, cases, ["VS_Dice", "VS_ASSD"], values)


def test_test_then_rank_on_a_subset_equals_the_subset_alone() -> None:
    rng = np.random.default_rng(2)
    per_case = rng.integers(1, 6, size=(6, 20)).astype(float)
    teams = [f"t{k}" for k in range(6)]
    sig = sig_mod.test_then_rank(teams, per_case, tested=[4, 0, 2])
    assert sig.tested == [0, 2, 4] and sig.teams == ["t0", "t2", "t4"] and sig.n_teams == 6 and sig.limited
    np.testing.assert_array_equal(sig.p_values, sig_mod.pairwise_wilcoxon(per_case[[0, 2, 4]]))
    alone = sig_mod.test_then_rank(["t0", "t2", "t4"], per_case[[0, 2, 4]])
    np.testing.assert_array_equal(sig.ranking.rank[[0, 2, 4]], alone.ranking.rank)
    np.testing.assert_array_equal(sig.ranking.score[[0, 2, 4]], alone.ranking.score)
    assert sig.ranking.rank[[1, 3, 5]].tolist() == [4, 4, 4]  # untested: the rank after the tested
    assert np.isnan(sig.ranking.score[[1, 3, 5]]).all()
    assert sig.ranking.as_dict()["teams"][-1]["score"] is None  # strict JSON
    full = sig_mod.test_then_rank(teams, per_case)
    assert full.tested == list(range(6)) and not full.limited
    with pytest.raises(ValueError, match="indices"):
        sig_mod.test_then_rank(teams, per_case, tested=[0, 6])


def test_significance_limited_to_the_leading_teams() -> None:
    table = graded_table(12, 10)
    result = compute_ranking(table, RankingConfig(bootstrap=0, significance_teams=5))
    lead = result.main.ranking.order()[:5]
    sig = result.significance
    assert sig.tested == sorted(lead) and sig.p_values.shape == (5, 5)
    others = sorted(set(range(12)) - set(lead))
    assert (result.schemes["test-then-rank"].rank[others] == 6).all()
    everyone = compute_ranking(table, RankingConfig(bootstrap=0))  # 12 <= 100: all teams tested
    assert everyone.significance.tested == list(range(12))
    assert everyone.significance.p_values.shape == (12, 12)
    with pytest.raises(ValueError, match="significance_teams"):
        compute_ranking(table, RankingConfig(bootstrap=0, significance_teams=1))


def test_cli_significance_teams_option(tmp_path: Path) -> None:
    table = graded_table(8, 6)
    frame = pd.DataFrame([{"team": t, "case": c, "VS_Dice": table.values[i, j, 0],
                           "VS_ASSD": table.values[i, j, 1]}
                          for i, t in enumerate(table.teams) for j, c in enumerate(table.cases)])
    frame.to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "o"
    common = [str(tmp_path / "s.csv"), "-o", str(out), "--bootstrap", "0", "--no-figures"]
    assert main([*common, "--significance-teams", "3"]) == 0
    data = json.loads((out / "ranking.json").read_text())
    assert len(data["significance"]["teams"]) == 3 and data["significance"]["n_teams_ranked"] == 8
    assert data["provenance"]["config"]["significance_teams"] == 3
    scores = {t["team"]: t["score"] for t in data["schemes"]["test-then-rank"]["teams"]}
    assert sum(v is None for v in scores.values()) == 5
    assert "pairwise tests among the leading 3 of 8 teams" in (out / "leaderboard.md").read_text()
    assert main([*common, "--significance-teams", "1"]) == 2


def test_kendall_tau_b_per_resample_path_equals_all_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    ref = min_rank(rng.integers(0, 30, 120))
    rankings = min_rank(ref[None, :] + rng.integers(-20, 20, (25, 120)), axis=1)
    rankings[3] = 1  # all tied: undefined
    all_pairs = boot_mod.kendall_tau_b(ref, rankings)
    monkeypatch.setattr(boot_mod, "PAIRWISE_TAU_PAIRS", 0)
    monkeypatch.setattr(boot_mod, "CHUNK_ELEMENTS", 1000)  # irrelevant on this path; chunks below
    per_resample = boot_mod.kendall_tau_b(ref, rankings)
    np.testing.assert_allclose(per_resample, all_pairs, rtol=0, atol=1e-12, equal_nan=True)
    assert np.isnan(per_resample[3])
    np.testing.assert_allclose(per_resample[0], kendalltau(ref, rankings[0]).statistic, atol=1e-12)


def test_kendall_tau_b_chunks_equal_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    ref = rng.permutation(15) + 1
    rankings = rng.integers(1, 10, (40, 15))
    whole = boot_mod.kendall_tau_b(ref, rankings)
    monkeypatch.setattr(boot_mod, "CHUNK_ELEMENTS", 300)  # 105 pairs: 2 resamples per chunk
    np.testing.assert_array_equal(boot_mod.kendall_tau_b(ref, rankings), whole)


def test_result_types_import_without_pipeline_or_output_modules() -> None:
    code = ("import sys, crossmoda.ranking.result, crossmoda.ranking.report; "
            "print(sorted(m for m in sys.modules if m.startswith('crossmoda.ranking.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out)  # noqa: S307 - our own printed list
    assert "crossmoda.ranking.pipeline" not in loaded and "crossmoda.ranking.plots" not in loaded
    from crossmoda.ranking import pipeline, result

    assert pipeline.RankingResult is result.RankingResult and pipeline.RankingConfig is result.RankingConfig
