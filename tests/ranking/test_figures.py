"""Report figures: sizes bounded as teams grow, summarised rows, readable axes and p-values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmoda.ranking import plots, plots_ranks
from crossmoda.ranking.pipeline import RankingConfig, compute_ranking, run_ranking
from crossmoda.ranking.plots_style import format_p, new_figure, set_value_axis
from crossmoda.ranking.report import figure_rules
from crossmoda.ranking.result import RankingResult
from tests.ranking.test_scale import graded_table


def _result(n_teams: int, figure_teams: int = 4, significance_teams: int = 6) -> RankingResult:
    return compute_ranking(graded_table(n_teams, 6), RankingConfig(
        bootstrap=30, seed=1, figure_teams=figure_teams, significance_teams=significance_teams))


def _labels(axis: object) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels()]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("p", "text"), [(0.00390625, "0.0039"), (0.0042, "0.0042"), (0.06, "0.060"),
                                         (0.94, "0.94"), (1.0, "1.0"), (0.01, "0.010"), (0.0004, "<0.001"),
                                         (float("nan"), "")])
def test_p_values_two_significant_digits(p: float, text: str) -> None:
    assert format_p(p) == text


def test_rank_groups_bound_the_rows() -> None:
    assert plots.rank_groups(list(range(4)), 20) == []
    for n_teams in (21, 26, 250, 1000):
        order = list(np.random.default_rng(n_teams).permutation(n_teams))
        groups = plots.rank_groups(order, 20)
        assert 1 <= len(groups) <= plots.MAX_GROUPS
        assert [t for g in groups for t in g] == order[20:]  # every other team, in rank order
        sizes = [len(g) for g in groups]
        assert max(sizes) - min(sizes) <= 1


def test_figure_sizes_do_not_grow_with_teams() -> None:
    small, large = _result(12), _result(60)
    for draw in (lambda r: plots.metric_figure(r), lambda r: plots.metric_figure(r, by_site=True),
                 lambda r: plots_ranks.bootstrap_figure(r.bootstrap, r.main.ranking.order(), 4),
                 plots_ranks.schemes_figure,
                 lambda r: plots_ranks.significance_figure(r.significance, r.main.ranking.order())):
        assert tuple(draw(small).get_size_inches()) == tuple(draw(large).get_size_inches())


def test_metric_rows_lead_then_rank_groups() -> None:
    result = _result(60)
    ax = plots.metric_figure(result).axes[0]
    labels = _labels(ax.yaxis)
    order = result.main.ranking.order()
    rank = result.main.ranking.rank
    assert labels[:4] == [f"{int(rank[t])}. {result.table.teams[t]}" for t in order[:4]]
    groups = [order[4:16], order[16:27], order[27:38], order[38:49], order[49:]]  # 56 = 12 + 4 x 11
    assert labels[4:] == [f"ranks {int(rank[g[0]])}-{int(rank[g[-1]])} ({len(g)} teams)" for g in groups]
    few = _result(4, figure_teams=4)
    assert len(_labels(plots.metric_figure(few).axes[0].yaxis)) == 4  # no summary rows


def test_significance_map_shows_the_tested_teams_with_p_values() -> None:
    result = _result(9, figure_teams=9, significance_teams=4)
    fig = plots_ranks.significance_figure(result.significance, result.main.ranking.order())
    ax = fig.axes[0]
    order = result.main.ranking.order()
    assert _labels(ax.yaxis) == [result.table.teams[t] for t in order[:4]]
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 4 * 3 and not any(c.startswith(".") for c in cells)
    assert "leading 4 of 9 teams tested" in fig.get_suptitle()
    assert ax.get_ylabel() == "row team"  # short: a long title was cut off


def test_log_axis_labels_stay_few_with_values_near_zero() -> None:
    fig = new_figure(5.6, 3.0)
    ax = fig.subplots()
    values = np.array([1e-7, 0.0, 0.2, 0.3, 350.0])
    set_value_axis(ax, values, "mm", "Cochlea ASSD")
    ax.scatter(np.maximum(values, 0.01), np.zeros(5))
    fig.canvas.draw()  # type: ignore[attr-defined]
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t in ax.xaxis.get_ticklabels()
             if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert shown == ["0.01", "0.1", "1", "10", "100"]
    assert "values < 0.01 drawn at 0.01" in ax.get_xlabel()
    narrow = new_figure(5.6, 3.0).subplots()
    set_value_axis(narrow, np.array([0.18, 0.25, 0.4]), "mm", "VS ASSD")
    assert narrow.get_xlabel() == "VS ASSD (mm)"


def test_report_states_the_rules(tmp_path: Path) -> None:
    table = graded_table(30, 4)
    csv = tmp_path / "s.csv"
    rows = ["team,case,VS_Dice,VS_ASSD"] + [
        f"{t},{c},{table.values[i, j, 0]},{table.values[i, j, 1]}"
        for i, t in enumerate(table.teams) for j, c in enumerate(table.cases)]
    csv.write_text("\n".join(rows) + "\n")
    config = RankingConfig(bootstrap=20, figure_teams=5, significance_teams=8)
    result = run_ranking(csv, tmp_path / "out", config)
    page = (tmp_path / "out" / "report.html").read_text()
    rules = figure_rules(result)
    assert "leading 5 of 30 teams" in rules and "leading 8 of 30 teams" in rules
    assert rules in page.replace("&#x27;", "'")
    assert page.count('<div class="scroll">') == 0  # 30 rows: no scroll box yet
    small = _result(12, figure_teams=20, significance_teams=100)
    assert "All 12 teams are drawn individually" in figure_rules(small)
