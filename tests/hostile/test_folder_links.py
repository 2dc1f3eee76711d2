"""Folder mode: links and special files in the prediction folder are that case's error."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.hostile.conftest import errors_by_case, evaluate


def test_baseline_scores(challenge_data: dict[str, Path]) -> None:
    rc, m = evaluate(challenge_data)
    assert rc == 0 and m["errors"] == []
    assert 0.3 < m["case"]["crossmoda2022_etz_1"]["VS_Dice"] < 1.0


def test_link_to_the_ground_truth_is_scored_worst(challenge_data: dict[str, Path]) -> None:
    pred, gt = challenge_data["pred"], challenge_data["gt"]
    target = pred / "crossmoda2022_etz_1_Label.nii.gz"
    target.unlink()
    target.symlink_to(gt / "crossmoda2022_etz_1_Label.nii.gz")
    rc, m = evaluate(challenge_data)
    assert rc == 0
    assert m["case"]["crossmoda2022_etz_1"]["VS_Dice"] == 0.0
    assert m["case"]["crossmoda2022_etz_1"]["VS_ASSD"] == 350.0
    err = errors_by_case(m)["crossmoda2022_etz_1"]
    assert "symbolic link" in err and "crossmoda2022_etz_1_Label.nii.gz" in err
    assert m["case"]["crossmoda2022_etz_2"]["VS_Dice"] > 0.3  # the others unchanged
    assert "crossmoda2022_etz_1" not in m["missing"]


def test_link_in_2023_form_and_to_another_team(challenge_data: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other_team"
    other.mkdir()
    (challenge_data["pred"] / "crossmoda2022_etz_2_Label.nii.gz").rename(other / "x.nii.gz")
    (challenge_data["pred"] / "crossmoda2022_etz_2.nii.gz").symlink_to(other / "x.nii.gz")
    rc, m = evaluate(challenge_data)
    assert rc == 0
    assert m["case"]["crossmoda2022_etz_2"]["VS_Dice"] == 0.0
    assert "symbolic link" in errors_by_case(m)["crossmoda2022_etz_2"]


def test_koos_table_linked_to_a_host_file_leaks_nothing(challenge_data: dict[str, Path]) -> None:
    csv = challenge_data["pred"] / "predictions.csv"
    csv.unlink()
    csv.symlink_to(challenge_data["secret"])
    rc, m = evaluate(challenge_data)
    assert rc == 0
    text = (challenge_data["out"] / "metrics.json").read_text()
    assert "TOPSECRET" not in text and "root:x" not in text
    assert "symbolic link" in errors_by_case(m)["None"]
    assert m["case"]["crossmoda2022_etz_1"]["VS_Dice"] > 0.3  # segmentations still scored


def test_fifo_and_folder_named_like_a_case_do_not_hang(challenge_data: dict[str, Path]) -> None:
    pred = challenge_data["pred"]
    (pred / "crossmoda2022_etz_1_Label.nii.gz").unlink()
    os.mkfifo(pred / "crossmoda2022_etz_1_Label.nii.gz")
    (pred / "crossmoda2022_etz_2_Label.nii.gz").unlink()
    (pred / "crossmoda2022_etz_2_Label.nii.gz").mkdir()
    rc, m = evaluate(challenge_data)
    assert rc == 0
    errors = errors_by_case(m)
    assert "FIFO" in errors["crossmoda2022_etz_1"]
    assert "directory" in errors["crossmoda2022_etz_2"]
    assert m["case"]["crossmoda2022_ldn_3"]["VS_Dice"] > 0.3


def test_linked_prediction_folder_itself_is_allowed(challenge_data: dict[str, Path], tmp_path: Path) -> None:
    link = tmp_path / "pred_link"
    link.symlink_to(challenge_data["pred"])
    rc, m = evaluate({**challenge_data, "pred": link})
    assert rc == 0 and m["errors"] == []


def test_traversal_in_names_is_not_possible(challenge_data: dict[str, Path]) -> None:
    # Names come from the folder listing itself, so no entry can point outside it; a link to
    # the parent folder is refused like every link.
    (challenge_data["pred"] / "crossmoda2022_ukm_9_Label.nii.gz").symlink_to("..")
    rc, m = evaluate(challenge_data)
    assert rc == 0
    assert json.dumps(m).count("TOPSECRET") == 0


def test_linked_ground_truth_entries_are_the_organisers(challenge_data: dict[str, Path],
                                                         tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    gt = challenge_data["gt"]
    for path in gt.glob("*_Label.nii.gz"):
        path.rename(store / path.name)
        path.symlink_to(store / path.name)
    rc, m = evaluate(challenge_data)
    assert rc == 0 and m["errors"] == []
