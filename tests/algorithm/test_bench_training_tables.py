"""The training benchmark's markdown tables (``benchmarks/bench_training_tables.py``) on hand-made
per-case frames whose means and standard deviations can be checked by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pandas as pd


def _load_tables() -> ModuleType:
    """The benchmark module, loaded from its file (``benchmarks`` is not a package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_training_tables.py"
    spec = importlib.util.spec_from_file_location("bench_training_tables", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tables = _load_tables()


def _frame_2022() -> pd.DataFrame:
    return pd.DataFrame.from_records([
        {"row": "1 no adaptation", "case": "crossmoda2022_etz_1", "site": "etz", "acquisition": "3D",
         "VS_Dice": 0.8, "VS_ASSD": 1.0, "Cochlea_Dice": 0.6, "Cochlea_ASSD": 2.0,
         "seconds": 2.0, "error": ""},
        {"row": "1 no adaptation", "case": "crossmoda2022_ldn_2", "site": "ldn", "acquisition": "3D",
         "VS_Dice": 0.6, "VS_ASSD": 3.0, "Cochlea_Dice": 0.4, "Cochlea_ASSD": 4.0,
         "seconds": 4.0, "error": ""},
    ])


def _frame_2023() -> pd.DataFrame:
    """Two rows; row 2 has a refused ukm 2D case scored worst (Dice 0, ASSD 350 mm). Columns in
    the evaluation's order (VS, Cochlea, then the VS parts)."""
    records = []
    for row, scale in (("2 translation + segmentation", 1.0), ("1 no adaptation", 0.5)):
        records += [
            {"row": row, "case": "crossmoda2023_ukm_3", "site": "ukm", "acquisition": "3D",
             "VS_Dice": 0.9 * scale, "VS_ASSD": 1.0, "Cochlea_Dice": 0.8 * scale, "Cochlea_ASSD": 0.5,
             "ExtraMeatalVS_Dice": 0.7 * scale, "ExtraMeatalVS_ASSD": 2.0,
             "IntraMeatalVS_Dice": 0.6 * scale, "IntraMeatalVS_ASSD": 1.5, "seconds": 3.0, "error": ""},
            {"row": row, "case": "crossmoda2023_ldn_1", "site": "ldn", "acquisition": "3D",
             "VS_Dice": 0.7 * scale, "VS_ASSD": 3.0, "Cochlea_Dice": 0.6 * scale, "Cochlea_ASSD": 1.5,
             "ExtraMeatalVS_Dice": 0.5 * scale, "ExtraMeatalVS_ASSD": 4.0,
             "IntraMeatalVS_Dice": 0.4 * scale, "IntraMeatalVS_ASSD": 2.5, "seconds": 5.0, "error": ""},
        ]
    records.append(
        {"row": "2 translation + segmentation", "case": "crossmoda2023_ukm_6", "site": "ukm",
         "acquisition": "2D thick-slice", "VS_Dice": 0.0, "VS_ASSD": 350.0, "Cochlea_Dice": 0.0,
         "Cochlea_ASSD": 350.0, "ExtraMeatalVS_Dice": 0.0, "ExtraMeatalVS_ASSD": 350.0,
         "IntraMeatalVS_Dice": 0.0, "IntraMeatalVS_ASSD": 350.0, "seconds": 0.0,
         "error": "voxel spacing (0.5, 0.5, 9) mm: slices too thick"})
    return pd.DataFrame.from_records(records)


def test_2022_summary_keeps_the_published_format() -> None:
    assert tables.summary_table(_frame_2022()).splitlines() == [
        "| row | VS Dice | VS ASSD (mm) | Cochlea Dice | Cochlea ASSD (mm) |",
        "|---|---|---|---|---|",
        # means of (0.8, 0.6), (1, 3), (0.6, 0.4), (2, 4); population std 0.1, 1, 0.1, 1
        "| 1 no adaptation | 0.700 +- 0.100 | 2.00 +- 1.00 | 0.500 +- 0.100 | 3.00 +- 1.00 |",
    ]
    assert tables.refused_lines(_frame_2022()) == []


def test_2023_columns_follow_the_label_map_and_rows_are_sorted() -> None:
    frame = _frame_2023()
    assert tables.metric_columns(frame) == [
        "ExtraMeatalVS_Dice", "ExtraMeatalVS_ASSD", "IntraMeatalVS_Dice", "IntraMeatalVS_ASSD",
        "VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD"]
    lines = tables.summary_table(frame).splitlines()
    assert lines[0] == ("| row | Extra-meatal VS Dice | Extra-meatal VS ASSD (mm) | Intra-meatal VS Dice | "
                        "Intra-meatal VS ASSD (mm) | Whole VS Dice | Whole VS ASSD (mm) | Cochlea Dice | "
                        "Cochlea ASSD (mm) |")
    assert lines[1] == "|" + "---|" * 9
    # row 1: halves of (0.7, 0.5) -> 0.30 +- 0.05 ...; ASSD (2, 4) -> 3 +- 1
    assert lines[2] == ("| 1 no adaptation | 0.300 +- 0.050 | 3.00 +- 1.00 | 0.250 +- 0.050 | 2.00 +- 0.50 | "
                        "0.400 +- 0.050 | 2.00 +- 1.00 | 0.350 +- 0.050 | 1.00 +- 0.50 |")
    # row 2 (refused case included), whole VS: Dice (0.9, 0.7, 0) -> mean 0.533, population std
    # sqrt(0.4467 / 3) = 0.386; ASSD (1, 3, 350) -> mean 118, std sqrt(80738 / 3) = 164.05
    cells = lines[3].split(" | ")
    assert cells[0] == "| 2 translation + segmentation"
    assert cells[5:7] == ["0.533 +- 0.386", "118.00 +- 164.05"]
    assert len(lines) == 4


def test_site_and_acquisition_tables_split_the_rows() -> None:
    frame = _frame_2023()
    by_site = tables.group_table(frame, "site").splitlines()
    assert by_site[0].startswith("| row | site | n | refused | Extra-meatal VS Dice |")
    assert by_site[0].endswith("| Cochlea ASSD (mm) | s/case |")
    assert [line.split(" | ")[:4] for line in by_site[2:]] == [
        ["| 1 no adaptation", "ldn", "1", "0"], ["| 1 no adaptation", "ukm", "1", "0"],
        ["| 2 translation + segmentation", "ldn", "1", "0"],
        ["| 2 translation + segmentation", "ukm", "2", "1"],
    ]
    # row 2, ukm: ukm_3 and the refused ukm_6 (0 / 350 mm everywhere); seconds (3, 0) -> 1.5
    assert by_site[5] == ("| 2 translation + segmentation | ukm | 2 | 1 | 0.350 +- 0.350 | "
                          "176.00 +- 174.00 | 0.300 +- 0.300 | 175.75 +- 174.25 | 0.450 +- 0.450 | "
                          "175.50 +- 174.50 | "
                          "0.400 +- 0.400 | 175.25 +- 174.75 | 1.5 |")
    by_acquisition = tables.group_table(frame, "acquisition").splitlines()
    assert [line.split(" | ")[:4] for line in by_acquisition[2:]] == [
        ["| 1 no adaptation", "3D", "2", "0"],
        ["| 2 translation + segmentation", "3D", "2", "0"],
        ["| 2 translation + segmentation", "2D thick-slice", "1", "1"],
    ]
    # row 2, 3D: ukm_3 and ldn_1, extra-meatal Dice (0.7, 0.5), ASSD (2, 4); seconds (3, 5) -> 4
    assert by_acquisition[3].startswith(
        "| 2 translation + segmentation | 3D | 2 | 0 | 0.600 +- 0.100 | 3.00 +- 1.00 | ")
    assert by_acquisition[3].endswith(" | 4.0 |")
    assert by_acquisition[4].endswith("| 0.000 +- 0.000 | 350.00 +- 0.00 | 0.0 |")
    assert tables.refused_lines(frame) == [
        "- 2 translation + segmentation: crossmoda2023_ukm_6: "
        "voxel spacing (0.5, 0.5, 9) mm: slices too thick"]


def test_unknown_groups_and_missing_seconds() -> None:
    """Cases without a site (e.g. ``crossmoda_12``) or seconds (an earlier run's rows)."""
    frame = _frame_2022().assign(site=["", "etz"], seconds=[float("nan")] * 2)
    lines = tables.group_table(frame, "site").splitlines()
    assert [line.split(" | ")[1] for line in lines[2:]] == ["etz", "unknown"]
    assert all(line.endswith("| n/a |") for line in lines[2:])
