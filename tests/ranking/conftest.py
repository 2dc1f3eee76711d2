"""Shared fixtures of the ranking tests: small hand-checkable tables and team folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossmoda.ranking.scores import ScoreTable

SCORE_TEST = Path(__file__).resolve().parents[1] / "data" / "crossmoda2022" / "score_test.csv"


def make_table(values: dict[str, list[list[float]]], columns: list[str],
               cases: list[str] | None = None) -> ScoreTable:
    """Table from team -> per-case rows of column values."""
    teams = sorted(values)
    arr = np.array([values[t] for t in teams], dtype=float)
    cases = cases or [f"crossmoda2022_etz_{i + 1}" for i in range(arr.shape[1])]
    return ScoreTable(teams, cases, columns, arr)


def write_team(root: Path, team: str, cases: dict[str, dict[str, float]],
               koos: dict[str, dict[str, int | None]] | None = None,
               missing: list[str] | None = None) -> Path:
    """Write ``root/team/metrics.json`` in the evaluation's layout (docs/contracts.md)."""
    folder = root / team
    folder.mkdir(parents=True)
    data: dict[str, Any] = {"case": cases, "aggregates": {}, "koos": koos or {}, "metric_specs": {},
                            "missing": missing or [], "extra": [], "errors": [], "provenance": {}}
    (folder / "metrics.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.fixture
def team_folder(tmp_path: Path) -> Path:
    """Two teams, four cases on two sites, with Koos grades (one post-operative case)."""
    root = tmp_path / "teams"
    cases = ["crossmoda2022_etz_1", "crossmoda2022_etz_2", "crossmoda2022_ldn_3", "crossmoda2022_ldn_4"]
    good = {c: {"VS_Dice": 0.9, "VS_ASSD": 0.5, "Cochlea_Dice": 0.8, "Cochlea_ASSD": 0.3, "VS_HD95": 2.0}
            for c in cases}
    bad = {c: {"VS_Dice": 0.7 + 0.01 * i, "VS_ASSD": 1.5, "Cochlea_Dice": 0.6, "Cochlea_ASSD": 0.9,
               "VS_HD95": 4.0} for i, c in enumerate(cases)}
    refs = [1, 1, 2, 4]
    good_koos: dict[str, dict[str, int | None]] = {
        c: {"reference": r, "prediction": r} for c, r in zip(cases, refs, strict=True)}
    good_koos["crossmoda2022_ldn_9"] = {"reference": None, "prediction": 3}
    write_team(root, "good", good, good_koos)
    write_team(root, "bad", bad, {cases[0]: {"reference": 1, "prediction": 1},
                                  cases[1]: {"reference": 1, "prediction": 2},
                                  cases[2]: {"reference": 2, "prediction": 2},
                                  cases[3]: {"reference": 4, "prediction": None},
                                  "crossmoda2022_ldn_9": {"reference": None, "prediction": None}},
               missing=["crossmoda2022_ldn_4"])
    return root
