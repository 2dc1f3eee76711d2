"""``crossmoda-rank`` end to end: files written, their layout, exit status on bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from crossmoda.ranking.cli import main
from tests.ranking.conftest import write_team


def test_folder_of_teams_full_report(team_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main([str(team_folder), "--output", str(out), "--bootstrap", "50", "--seed", "3"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.columns[:5]) == ["team", "rank", "score", "VS_Dice_median", "VS_Dice_IQR"]
    assert board["team"].tolist() == ["good", "bad"]
    assert board["score"].tolist() == [1.0, 2.0]
    assert board["VS_Dice_median"].tolist() == pytest.approx([0.9, 0.715])
    data = json.loads((out / "ranking.json").read_text())
    assert data["provenance"]["tool"] == "crossmoda-rank"
    config = data["provenance"]["config"]
    assert config["seed"] == 3 and config["bootstrap"] == 50 and config["missing"] == "worst"
    assert config["columns"] == ["VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD"]
    assert data["ranking"]["teams"][0] == {"team": "good", "rank": 1, "score": 1.0}
    assert set(data["variants"]) == {"dice", "assd", "vs", "cochlea", "site:etz", "site:ldn"}
    assert data["bootstrap"]["kendall_tau_b"]["min"] == 1.0
    assert data["koos"]["teams"][0]["team"] == "good"
    assert data["significance"]["p_values"][0][0] is None  # diagonal NaN written as null
    md = (out / "leaderboard.md").read_text()
    assert "| 1 | good | 1.0000 |" in md and "## Koos grading" in md
    assert data["missing_values"]["missing_in_evaluation"] == {"bad": ["crossmoda2022_ldn_4"]}
    assert "Team bad: 1 cases missing or failed in its evaluation" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(list((out / "figures").glob("*.png"))) == 6
    assert "http://" not in html.replace("http://www.w3.org", "") and "src=\"http" not in html
    for png in (out / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_with_settable_columns_and_no_figures(tmp_path: Path) -> None:
    frame = pd.DataFrame({"subject": ["s1", "s1", "s2", "s2"], "algo": ["A*DA", "B", "A*DA", "B"],
                          "VS_Dice": [0.9, 0.8, 0.5, 0.7], "VS_ASSD": [1.0, 1.0, 2.0, 3.0]})
    frame.to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "o"
    argv = [str(tmp_path / "s.csv"), "-o", str(out), "--case-column", "SUBJECT", "--team-column", "Algo",
            "--no-figures", "--variants", "dice", "--bootstrap", "20"]
    assert main(argv) == 0
    assert not (out / "report.html").exists()
    board = pd.read_csv(out / "leaderboard.csv")
    assert board["team"].tolist() == ["A*DA", "B"] and board["score"].tolist() == [1.25, 1.5]
    assert r"A\*DA" in (out / "leaderboard.md").read_text()
    data = json.loads((out / "ranking.json").read_text())
    assert list(data["variants"]) == ["dice"]


def test_single_case_bootstrap_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "teams"
    write_team(root, "a", {"crossmoda2022_etz_1": {"VS_Dice": 0.5}})
    write_team(root, "b", {"crossmoda2022_etz_1": {"VS_Dice": 0.6}})
    with caplog.at_level(logging.ERROR):
        assert main([str(root), "-o", str(tmp_path / "o"), "--no-figures"]) == 2
    assert "at least two cases, got 1" in caplog.text
    assert main([str(root), "-o", str(tmp_path / "o"), "--no-figures", "--bootstrap", "0"]) == 0
    board = pd.read_csv(tmp_path / "o" / "leaderboard.csv")
    assert board["team"].tolist() == ["b", "a"]


def test_missing_policy_error_exit_status(tmp_path: Path) -> None:
    root = tmp_path / "teams"
    write_team(root, "a", {"crossmoda2022_etz_1": {"VS_Dice": 0.5}, "crossmoda2022_etz_2": {"VS_Dice": 0.5}})
    write_team(root, "b", {"crossmoda2022_etz_1": {"VS_Dice": 0.6}})
    common = [str(root), "-o", str(tmp_path / "o"), "--no-figures", "--bootstrap", "0"]
    assert main([*common, "--missing", "error"]) == 2
    assert main([*common, "--missing", "worst"]) == 0
    data = json.loads((tmp_path / "o" / "ranking.json").read_text())
    assert data["missing_values"]["missing"] == {"b": {"VS_Dice": 1}}
    # b gets Dice 0 on case 2: a ranks (2, 1), b (1, 2): a tie at 1.5
    assert [t["rank"] for t in data["ranking"]["teams"]] == [1, 1]
    assert main([*common, "--missing", "drop"]) == 0
    data = json.loads((tmp_path / "o" / "ranking.json").read_text())
    assert data["missing_values"]["dropped_cases"] == ["crossmoda2022_etz_2"]
    assert data["ranking"]["teams"][0]["team"] == "b"
