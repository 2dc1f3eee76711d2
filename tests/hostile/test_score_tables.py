"""Score tables given to the ranking: values outside the metric specs, bad cells, empty teams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossmoda.core.metrics_spec import METRICS
from crossmoda.ranking.cli import main as rank_main
from crossmoda.ranking.scores import ScoreTableError, apply_missing_policy, load_scores, scores_from_frame
from tests.ranking.conftest import write_team

CASES = ["crossmoda2022_etz_1", "crossmoda2022_etz_2"]


def _frame(**override: float) -> pd.DataFrame:
    rows = []
    for team in ("alpha", "beta"):
        for case in CASES:
            rows.append({"Team": team, "Case": case, "VS_Dice": 0.8, "VS_ASSD": 1.0,
                         "Cochlea_Dice": 0.7, "Cochlea_ASSD": 0.5})
    for key, value in override.items():
        rows[-1][key] = value
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("column", "value"), [
    ("VS_Dice", 1.7), ("VS_Dice", -0.2), ("Cochlea_ASSD", -1.0), ("VS_ASSD", np.inf),
])
def test_out_of_range_values_name_team_case_and_column(column: str, value: float) -> None:
    with pytest.raises(ScoreTableError) as info:
        scores_from_frame(_frame(**{column: value}))
    message = str(info.value)
    assert "'beta'" in message and "'crossmoda2022_etz_2'" in message and f"'{column}'" in message
    assert "valid" in message


def test_ranges_come_from_the_specs() -> None:
    assert METRICS["Dice"].range_text() == "[0, 1]"
    assert METRICS["ASSD"].range_text() == ">= 0"
    assert METRICS["Dice"].in_range(1.0) and not METRICS["Dice"].in_range(1.0001)
    assert METRICS["ASSD"].in_range(500.0) and not METRICS["ASSD"].in_range(float("nan"))
    scores_from_frame(_frame(VS_ASSD=420.0))  # a distance beyond the default cap is valid


def test_non_numeric_cell_is_an_error_not_a_missing_value() -> None:
    frame = _frame()
    frame["VS_Dice"] = frame["VS_Dice"].astype(object)
    frame.loc[1, "VS_Dice"] = "0.9x"
    with pytest.raises(ScoreTableError, match="not numbers.*'alpha'.*crossmoda2022_etz_2.*VS_Dice"):
        scores_from_frame(frame)


def test_empty_cell_is_missing_and_counted() -> None:
    frame = _frame()
    frame.loc[0, "VS_Dice"] = np.nan
    table, report = apply_missing_policy(scores_from_frame(frame), "worst")
    assert report.missing == {"alpha": {"VS_Dice": 1}}
    assert table.values[0, 0, table.columns.index("VS_Dice")] == 0.0


def test_row_without_team_is_an_error() -> None:
    frame = _frame()
    frame.loc[2, "Team"] = None
    with pytest.raises(ScoreTableError, match="without a team name"):
        scores_from_frame(frame)


def test_team_with_an_empty_case_block_stays_as_all_missing(tmp_path: Path) -> None:
    good = {c: {"VS_Dice": 0.8, "VS_ASSD": 1.0, "Cochlea_Dice": 0.7, "Cochlea_ASSD": 0.5} for c in CASES}
    write_team(tmp_path, "alpha", good)
    write_team(tmp_path, "empty", {})
    table = load_scores(tmp_path)
    assert table.teams == ["alpha", "empty"]
    filled, report = apply_missing_policy(table, "worst")
    assert report.missing["empty"] == {c: 2 for c in table.columns}
    assert np.all(filled.values[1, :, table.columns.index("VS_Dice")] == 0.0)


def test_rank_cli_out_of_range_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scores.csv"
    _frame(VS_Dice=1.7).to_csv(path, index=False)
    assert rank_main([str(path), "--output", str(tmp_path / "out"), "--no-figures", "--bootstrap", "0"]) == 2


@pytest.mark.parametrize("args", [["--alpha", "2"], ["--alpha", "nan"], ["--bootstrap", "-1"],
                                  ["--bootstrap", "abc"]])
def test_rank_cli_bad_values_exit_2(tmp_path: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        rank_main(["x.csv", "--output", str(tmp_path / "out"), *args])
    assert info.value.code == 2


def test_rank_cli_output_under_a_file_fails_before_work(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scores.csv"
    _frame().to_csv(path, index=False)
    (tmp_path / "file").write_text("x")
    assert rank_main([str(path), "--output", str(tmp_path / "file" / "out"), "--no-figures"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0]
