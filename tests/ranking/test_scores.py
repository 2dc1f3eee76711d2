"""Input tables (wide, long, Parquet, team folders) and the missing-value policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossmoda.ranking.scores import (
    ColumnNames,
    ScoreTableError,
    apply_missing_policy,
    load_scores,
    scores_from_frame,
)
from tests.ranking.conftest import make_table

WIDE = pd.DataFrame({
    "CASE": ["c1", "c2", "c1", "c2"], "Participant": ["A", "A", "B", "B"],
    "VS_Dice": [0.9, 0.5, 0.8, 0.7], "VS_ASSD": [1.0, 2.0, 1.0, 3.0], "comment": ["x"] * 4,
})


def test_wide_table_case_insensitive_and_settable_names() -> None:
    table = scores_from_frame(WIDE, ColumnNames(case="case", team="participant"))
    assert table.teams == ["A", "B"] and table.cases == ["c1", "c2"]
    assert table.columns == ["VS_Dice", "VS_ASSD"]  # input order; "comment" names no metric: ignored
    assert table.values[1, 1].tolist() == [0.7, 3.0]
    with pytest.raises(ScoreTableError, match="team column 'team'"):
        scores_from_frame(WIDE)


def test_long_table_equals_wide() -> None:
    wide = scores_from_frame(WIDE, ColumnNames(team="participant"), columns=["VS_Dice", "VS_ASSD"])
    long = wide.to_long().rename(columns={"team": "Team", "metric": "Metric"})
    again = scores_from_frame(long, columns=["VS_Dice", "VS_ASSD"])
    assert again.teams == wide.teams and again.cases == wide.cases
    np.testing.assert_array_equal(again.values, wide.values)


def test_csv_and_parquet_files(tmp_path: Path) -> None:
    frame = WIDE.drop(columns="comment").rename(columns={"Participant": "Team"})
    frame.to_csv(tmp_path / "s.csv", index=False)
    frame.to_parquet(tmp_path / "s.parquet")
    a, b = load_scores(tmp_path / "s.csv"), load_scores(tmp_path / "s.parquet")
    np.testing.assert_array_equal(a.values, b.values)
    with pytest.raises(FileNotFoundError):
        load_scores(tmp_path / "nothing.csv")


def test_default_columns_are_the_challenge_four(team_folder: Path) -> None:
    table = load_scores(team_folder)
    assert table.teams == ["bad", "good"]
    assert table.columns == ["VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD"]
    assert set(table.koos) == {"bad", "good"}
    assert load_scores(team_folder, columns=["VS_HD95"]).values[:, 0, 0].tolist() == [4.0, 2.0]


def test_bad_inputs(tmp_path: Path) -> None:
    dup = pd.concat([WIDE, WIDE.iloc[:1]])
    with pytest.raises(ScoreTableError, match="duplicate"):
        scores_from_frame(dup, ColumnNames(team="participant"))
    with pytest.raises(ScoreTableError, match="not found or not registered"):
        scores_from_frame(WIDE, ColumnNames(team="participant"), columns=["VS_Volume"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScoreTableError, match="no team folder"):
        load_scores(tmp_path / "empty")
    (tmp_path / "broken" / "t").mkdir(parents=True)
    (tmp_path / "broken" / "t" / "metrics.json").write_text("{not json")
    with pytest.raises(ScoreTableError, match="unreadable"):
        load_scores(tmp_path / "broken")


def test_missing_policy_worst_drop_error() -> None:
    # B lacks VS_Dice and VS_ASSD for case 2 (absent row gives NaN too).
    frame = WIDE.drop(index=3)
    table = scores_from_frame(frame, ColumnNames(team="participant"), columns=["VS_Dice", "VS_ASSD"])
    assert np.isnan(table.values[1, 1]).all()
    worst, report = apply_missing_policy(table, "worst")
    assert worst.values[1, 1].tolist() == [0.0, 350.0]  # from the metric specs
    assert report.missing == {"B": {"VS_Dice": 1, "VS_ASSD": 1}} and report.n_missing == 2
    dropped, report = apply_missing_policy(table, "drop")
    assert dropped.cases == ["c1"] and report.dropped_cases == ["c2"]
    with pytest.raises(ScoreTableError, match="2 missing values"):
        apply_missing_policy(table, "error")
    complete = make_table({"A": [[0.5]]}, ["VS_Dice"])
    same, report = apply_missing_policy(complete, "error")
    assert same is complete and report.n_missing == 0
