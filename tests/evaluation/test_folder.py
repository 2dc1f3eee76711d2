"""Folder mode end to end: good, missing, extra, corrupt, mismatched and invalid predictions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from medpy.metric import binary as mp

from crossmoda.core.io import Geometry, read_array, write_image
from crossmoda.core.koos import write_koos_csv
from crossmoda.evaluation.cli import main
from tests.evaluation.helpers import SPACING_XYZ, geometry, label_pair, write_labels

GOOD = ["crossmoda2022_etz_1", "crossmoda2022_ldn_6"]


def _strict_json(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    gt, pr = tmp_path / "gt", tmp_path / "pred"
    arrays = {}
    cases = ["crossmoda2022_etz_1", "crossmoda2022_etz_2", "crossmoda2022_etz_3", "crossmoda2022_etz_4",
             "crossmoda2022_ldn_5", "crossmoda2022_ldn_6", "crossmoda2022_ldn_7", "crossmoda2022_ldn_8"]
    for i, case in enumerate(cases):
        pred, ref = label_pair(seed=i)
        arrays[case] = (pred, ref)
        geo = geometry(ref.shape)
        write_labels(gt / f"{case}_Label.nii.gz", ref, geo)
    pr.mkdir()
    good = arrays["crossmoda2022_etz_1"][0]
    write_labels(pr / "crossmoda2022_etz_1_Label.nii.gz", good, geometry(ref.shape))
    # etz_2: missing. etz_3: corrupt. etz_4: other spacing. ldn_5: label 7. ldn_6: .mha.
    (pr / "crossmoda2022_etz_3_Label.nii.gz").write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    write_labels(pr / "crossmoda2022_etz_4_Label.nii.gz", arrays["crossmoda2022_etz_4"][0],
                 geometry(ref.shape, spacing_xyz=(0.5, 0.6, 3.0)))
    bad = arrays["crossmoda2022_ldn_5"][0].copy()
    bad[0, 0, 0] = 7
    write_labels(pr / "crossmoda2022_ldn_5_Label.nii.gz", bad, geometry(ref.shape))
    write_labels(pr / "crossmoda2022_ldn_6_Label.mha", arrays["crossmoda2022_ldn_6"][0], geometry(ref.shape))
    nan = arrays["crossmoda2022_ldn_7"][0].astype(np.float32)
    nan[1, 1, 1] = np.nan
    write_labels(pr / "crossmoda2022_ldn_7_Label.nii.gz", nan, geometry(ref.shape))
    big = np.zeros((ref.shape[0] * 4, *ref.shape[1:]), np.uint8)  # more voxels than the reference
    write_labels(pr / "crossmoda2022_ldn_8_Label.nii.gz", big, geometry(big.shape))
    write_labels(pr / "crossmoda2022_ukm_99_Label.nii.gz", good, geometry(ref.shape))
    (pr / "notes.txt").write_text("stray file")
    write_koos_csv(gt / "koos.csv", {"crossmoda2022_etz_1": 2, "crossmoda2022_etz_2": 4,
                                      "crossmoda2022_ldn_5": None, "crossmoda2022_ldn_6": 1})
    write_koos_csv(pr / "predictions.csv", {"crossmoda2022_etz_1": 2, "crossmoda2022_ldn_6": 3,
                                            "crossmoda2022_ldn_5": 1})
    return pr, gt, arrays


def test_folder_mode_end_to_end(folders, tmp_path: Path) -> None:
    pr, gt, arrays = folders
    out = tmp_path / "out"
    assert main(["--predictions", str(pr), "--ground-truth", str(gt), "--output", str(out),
                 "--workers", "1", "--no-progress"]) == 0
    data = _strict_json(out / "metrics.json")
    assert set(data["case"]) == set(arrays)
    assert data["missing"] == ["crossmoda2022_etz_2"]
    assert data["extra"] == ["crossmoda2022_ukm_99"]
    errors = {e["case"]: e["error"] for e in data["errors"]}
    assert "cannot read" in errors["crossmoda2022_etz_3"]
    assert "spacing[z]" in errors["crossmoda2022_etz_4"]
    assert "[7]" in errors["crossmoda2022_ldn_5"]
    assert "non-finite" in errors["crossmoda2022_ldn_7"]
    assert "exceed" in errors["crossmoda2022_ldn_8"]
    worst = {"VS_Dice": 0.0, "VS_ASSD": 350.0, "Cochlea_Dice": 0.0, "Cochlea_ASSD": 350.0}
    for case in ("crossmoda2022_etz_2", "crossmoda2022_etz_3", "crossmoda2022_etz_4", "crossmoda2022_ldn_5"):
        assert {k: data["case"][case][k] for k in worst} == worst
    # the header stores float32 spacing (0.6 -> 0.6000000238): the oracle uses the header's value
    spacing = read_array(gt / "crossmoda2022_etz_1_Label.nii.gz")[1].spacing_mm
    assert spacing == pytest.approx(SPACING_XYZ[::-1], rel=1e-6)
    for case in GOOD:
        pred, ref = arrays[case]
        values = data["case"][case]
        for name, label in (("VS", 1), ("Cochlea", 2)):
            p, r = pred == label, ref == label
            assert values[f"{name}_Dice"] == mp.dc(p, r)
            expected = 0.5 * (mp.asd(p, r, spacing) + mp.asd(r, p, spacing))
            assert values[f"{name}_ASSD"] == pytest.approx(expected, rel=1e-9)
            assert values[f"{name}_ASSDPooled"] == pytest.approx(mp.assd(p, r, spacing), rel=1e-9)
    vs_dice = [data["case"][c]["VS_Dice"] for c in arrays]
    assert data["aggregates"]["VS_Dice"]["mean"] == pytest.approx(np.mean(vs_dice))
    assert data["aggregates"]["VS_Dice"]["median"] == pytest.approx(np.median(vs_dice))
    koos = data["aggregates"]["Koos"]
    # scored: etz_1 (2 -> 2), etz_2 (4 -> missing -> 1), ldn_6 (1 -> 3); ldn_5 post-operative
    assert koos["n_cases"] == 3
    assert koos["MA_MAE"] == pytest.approx((0 + 3 + 2) / 3)
    assert data["koos_missing"] == ["crossmoda2022_etz_2"]
    assert data["koos_excluded"] == ["crossmoda2022_ldn_5"]
    assert data["metric_specs"]["ASSD"]["higher_is_better"] is False
    assert data["metric_specs"]["Dice"]["higher_is_better"] is True
    assert data["provenance"]["tool"] == "crossmoda-evaluate"
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:5] == ["case", "VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD"]
    assert len(rows) == 1 + len(arrays)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert float(row["VS_ASSD"]) == data["case"][row["case"]]["VS_ASSD"]


def test_parallel_workers_give_the_same_metrics(folders, tmp_path: Path) -> None:
    pr, gt, _ = folders
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["--predictions", str(pr), "--ground-truth", str(gt), "--output", str(a), "--workers", "1",
                 "--no-progress"]) == 0
    assert main(["--predictions", str(pr), "--ground-truth", str(gt), "--output", str(b), "--workers", "2",
                 "--no-progress"]) == 0
    ja, jb = _strict_json(a / "metrics.json"), _strict_json(b / "metrics.json")
    assert ja["case"] == jb["case"] and ja["errors"] == jb["errors"]


def test_no_ground_truth_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    rc = main(["--predictions", str(tmp_path / "pred"), "--ground-truth", str(tmp_path / "gt"),
               "--output", str(tmp_path / "out"), "--no-progress"])
    assert rc == 2
    assert not (tmp_path / "out" / "metrics.json").exists()
    assert main(["--predictions", str(tmp_path / "pred"), "--ground-truth", str(tmp_path / "nope"),
                 "--output", str(tmp_path / "out"), "--no-progress"]) == 2


def test_label_map_2023_with_bare_case_names(tmp_path: Path) -> None:
    ref = np.zeros((8, 10, 12), np.uint8)
    ref[2:5, 3:6, 2:5] = 1
    ref[2:5, 3:6, 5:7] = 2
    ref[5, 8, 9] = 3
    pred = ref.copy()
    pred[2:5, 3:6, 6] = 1  # part of the intra-meatal VS predicted as extra-meatal
    geo = Geometry(size=(12, 10, 8), spacing=(0.4, 0.4, 1.0), origin=(1.0, 2.0, 3.0),
                   direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    write_image(ref, tmp_path / "gt" / "crossmoda2023_ukm_5_Label.nii.gz", geo)
    write_image(pred, tmp_path / "pred" / "crossmoda2023_ukm_5.nii.gz", geo)
    assert main(["--predictions", str(tmp_path / "pred"), "--ground-truth", str(tmp_path / "gt"),
                 "--output", str(tmp_path / "out"), "--label-map", "crossmoda2023", "--no-progress"]) == 0
    values = _strict_json(tmp_path / "out" / "metrics.json")["case"]["crossmoda2023_ukm_5"]
    header = (tmp_path / "out" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == ["case", "VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD", "ExtraMeatalVS_Dice",
                          "ExtraMeatalVS_ASSD"]
    assert values["VS_Dice"] == 1.0  # VS = {1, 2} is unchanged
    assert values["Cochlea_Dice"] == 1.0
    assert values["IntraMeatalVS_Dice"] == pytest.approx(2 * 9 / (18 + 9))  # 3x3x2 ref, 3x3x1 pred
    assert values["ExtraMeatalVS_Dice"] == pytest.approx(2 * 27 / (27 + 36))


def test_worker_count_from_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from crossmoda.evaluation.runner import WORKERS_ENV, resolve_workers

    monkeypatch.setenv(WORKERS_ENV, "3")
    assert resolve_workers(None) == 3
    assert resolve_workers(2) == 2
    assert resolve_workers(0) == 1
    monkeypatch.delenv(WORKERS_ENV)
    assert resolve_workers(None) >= 1


def test_missing_predictions_folder_duplicates_and_bad_koos_table(tmp_path: Path) -> None:
    pred, ref = label_pair(seed=3)
    gt = tmp_path / "gt"
    write_labels(gt / "crossmoda2022_etz_1_Label.nii.gz", ref, geometry(ref.shape))
    (gt / "koos.csv").write_text("case,class\ncrossmoda2022_etz_1,2\n")
    # no predictions folder at all: every case missing, still exit 0
    out = tmp_path / "out"
    assert main(["--predictions", str(tmp_path / "none"), "--ground-truth", str(gt), "--output", str(out),
                 "--no-progress"]) == 0
    data = _strict_json(out / "metrics.json")
    assert data["missing"] == ["crossmoda2022_etz_1"]
    assert data["case"]["crossmoda2022_etz_1"]["VS_ASSD"] == 350.0
    assert data["aggregates"]["Koos"]["MA_MAE"] == 2.0  # grade 2 scored as 4
    # a .nii.gz and a bare-name duplicate; a malformed Koos prediction table
    pr = tmp_path / "pred"
    write_labels(pr / "crossmoda2022_etz_1_Label.nii.gz", pred, geometry(ref.shape))
    write_labels(pr / "crossmoda2022_etz_1.nii.gz", ref, geometry(ref.shape))
    (pr / "predictions.csv").write_text("case,grade\ncrossmoda2022_etz_1,2\n")
    args = ["--predictions", str(pr), "--ground-truth", str(gt), "--output", str(out), "--no-progress"]
    assert main(args) == 0
    data = _strict_json(out / "metrics.json")
    assert data["case"]["crossmoda2022_etz_1"]["VS_Dice"] < 1.0  # the _Label file was used
    assert any("several prediction files" in n for n in data["notes"])
    assert any("Koos predictions" in e["error"] for e in data["errors"])
    assert data["koos_missing"] == ["crossmoda2022_etz_1"]
