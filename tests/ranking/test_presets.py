"""Ranking presets: 2022 unchanged by default, 2023 ranks on the sub-label columns (by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from crossmoda.ranking.cli import main
from crossmoda.ranking.presets import COLUMNS_2023, get_preset, resolve_columns
from tests.ranking.conftest import write_team

CASES = ("crossmoda2023_ldn_1", "crossmoda2023_ukm_2")


def _row(extra: tuple[float, float], intra: tuple[float, float], coch: tuple[float, float],
         vs: tuple[float, float]) -> dict[str, float]:
    return {"VS_Dice": vs[0], "VS_ASSD": vs[1], "Cochlea_Dice": coch[0], "Cochlea_ASSD": coch[1],
            "ExtraMeatalVS_Dice": extra[0], "ExtraMeatalVS_ASSD": extra[1],
            "IntraMeatalVS_Dice": intra[0], "IntraMeatalVS_ASSD": intra[1]}


@pytest.fixture
def teams_2023(tmp_path: Path) -> Path:
    """Two teams, two cases. Case ldn_1: A wins extra-meatal and cochlea, B intra-meatal (A's mean
    rank over the six 2023 columns 8/6, B's 10/6). Case ukm_2: A wins the six columns (1 vs 2).
    B wins whole-VS everywhere, A cochlea everywhere: on the 2022 columns they tie (1.5 each)."""
    root = tmp_path / "teams"
    write_team(root, "A", {CASES[0]: _row((0.9, 0.5), (0.6, 1.0), (0.8, 0.3), (0.80, 0.9)),
                           CASES[1]: _row((0.9, 0.4), (0.8, 0.5), (0.9, 0.2), (0.85, 0.8))})
    write_team(root, "B", {CASES[0]: _row((0.8, 0.7), (0.7, 0.8), (0.7, 0.4), (0.85, 0.5)),
                           CASES[1]: _row((0.7, 0.9), (0.5, 1.5), (0.6, 0.6), (0.90, 0.6))})
    return root


def _board(out: Path) -> dict[str, float]:
    board = pd.read_csv(out / "leaderboard.csv")
    return dict(zip(board["team"], board["score"], strict=True))


def test_2023_preset_ranks_on_sub_label_columns(teams_2023: Path, tmp_path: Path) -> None:
    out = tmp_path / "r23"
    assert main([str(teams_2023), "-o", str(out), "--preset", "crossmoda2023", "--bootstrap", "20"]) == 0
    assert _board(out) == pytest.approx({"A": (8 / 6 + 1) / 2, "B": (10 / 6 + 2) / 2})
    data = json.loads((out / "ranking.json").read_text())
    assert data["input"]["columns"] == list(COLUMNS_2023)
    assert data["provenance"]["config"]["preset"] == "crossmoda2023"
    assert {"site:ldn", "site:ukm"} <= set(data["variants"])
    assert data["variants"]["site:ukm"]["n_cases"] == 1
    md = (out / "leaderboard.md").read_text()
    assert "ExtraMeatalVS_Dice" in md and "IntraMeatalVS_ASSD" in md
    html = (out / "report.html").read_text()
    assert "IntraMeatalVS" in html


def test_2022_default_unchanged_and_columns_override(teams_2023: Path, tmp_path: Path) -> None:
    out = tmp_path / "r22"
    assert main([str(teams_2023), "-o", str(out), "--bootstrap", "0", "--no-figures"]) == 0
    assert _board(out) == {"A": 1.5, "B": 1.5}
    data = json.loads((out / "ranking.json").read_text())
    assert data["input"]["columns"] == ["VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD"]
    out = tmp_path / "rc"
    assert main([str(teams_2023), "-o", str(out), "--preset", "crossmoda2023", "--columns", "VS_Dice",
                 "--bootstrap", "0", "--no-figures"]) == 0
    assert _board(out) == {"B": 1.0, "A": 2.0}


def test_2023_preset_on_2022_scores_is_a_clear_error(team_folder: Path, tmp_path: Path) -> None:
    assert main([str(team_folder), "-o", str(tmp_path / "o"), "--preset", "crossmoda2023",
                 "--no-figures", "--bootstrap", "0"]) == 2


def test_resolve_columns() -> None:
    assert resolve_columns("crossmoda2022", None) is None
    assert resolve_columns("crossmoda2023", None) == list(COLUMNS_2023)
    assert resolve_columns("crossmoda2023", ["VS_Dice"]) == ["VS_Dice"]
    assert get_preset("crossmoda2023").label_map == "crossmoda2023"
    with pytest.raises(ValueError, match="unknown ranking preset"):
        get_preset("crossmoda2024")
