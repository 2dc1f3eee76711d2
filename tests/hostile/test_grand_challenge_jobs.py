"""grand-challenge mode: predictions.json of the wrong shape, links, several images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmoda.evaluation.cli import main
from tests.evaluation.helpers import geometry, label_pair, write_labels

CASES = ["crossmoda2022_etz_1", "crossmoda2022_etz_2"]


def _job(pk: str, case: str) -> dict:
    return {"pk": pk, "status": "Succeeded",
            "inputs": [{"interface": {"slug": "t2-mri"}, "image": {"name": f"{case}_hrT2.mha"}}],
            "outputs": [{"interface": {"slug": "vs-cochlea-segmentation",
                                       "relative_path": "images/vs-cochlea-segmentation"}},
                        {"interface": {"slug": "koos-grade", "relative_path": "koos-grade.json"},
                         "value": 2}]}


@pytest.fixture
def gc(tmp_path: Path) -> dict[str, Path]:
    gt, root = tmp_path / "gt", tmp_path / "input"
    for i, case in enumerate(CASES):
        p, r = label_pair(seed=i)
        write_labels(gt / f"{case}_Label.nii.gz", r, geometry(r.shape))
        write_labels(root / f"pk{i}" / "output" / "images" / "vs-cochlea-segmentation" / "out.mha", p,
                     geometry(r.shape))
    return {"gt": gt, "root": root, "out": tmp_path / "out"}


def _run(gc: dict[str, Path], jobs: object, raw: str | None = None) -> tuple[int, dict]:
    (gc["root"] / "predictions.json").write_text(raw if raw is not None else json.dumps(jobs))
    rc = main(["--mode", "grand-challenge", "--input-root", str(gc["root"]), "--ground-truth", str(gc["gt"]),
               "--output", str(gc["out"]), "--workers", "1", "--no-progress"])
    return rc, json.loads((gc["out"] / "metrics.json").read_text())


def test_good_jobs(gc: dict[str, Path]) -> None:
    rc, m = _run(gc, [_job("pk0", CASES[0]), _job("pk1", CASES[1])])
    assert rc == 0 and m["errors"] == []
    assert m["case"][CASES[1]]["VS_Dice"] > 0.3


@pytest.mark.parametrize("mutate", [
    lambda j: j["outputs"][0].__setitem__("interface", "str"),
    lambda j: j.__setitem__("inputs", 5),
    lambda j: j.__setitem__("outputs", 5),
    lambda j: j["outputs"][0]["interface"].__setitem__("relative_path", 7),
    lambda j: j["inputs"][0].__setitem__("image", 3),
    lambda j: j.__setitem__("outputs", [5]),
], ids=["interface-str", "inputs-int", "outputs-int", "relative-path-int", "image-int", "output-int"])
def test_wrong_json_types_are_that_jobs_error(gc: dict[str, Path], mutate) -> None:  # noqa: ANN001
    bad = _job("pk0", CASES[0])
    mutate(bad)
    rc, m = _run(gc, [bad, _job("pk1", CASES[1])])
    assert rc == 0
    assert m["errors"], "the malformed job must be reported"
    assert m["case"][CASES[0]]["VS_Dice"] == 0.0
    assert m["case"][CASES[1]]["VS_Dice"] > 0.3  # the good job still scored


@pytest.mark.parametrize("payload", [5, "jobs", {"a": 1}, [1, 2, None]])
def test_wrong_top_level_types(gc: dict[str, Path], payload: object) -> None:
    rc, m = _run(gc, payload)
    assert rc == 0 and m["errors"]
    assert all(m["case"][c]["VS_Dice"] == 0.0 for c in CASES)


def test_deeply_nested_json_writes_metrics(gc: dict[str, Path]) -> None:
    rc, m = _run(gc, None, raw="[" * 100_000 + "]" * 100_000)
    assert rc == 0
    assert "nested too deeply" in m["errors"][0]["error"]
    assert all(m["case"][c]["VS_Dice"] == 0.0 for c in CASES)


def test_two_images_in_a_segmentation_folder_is_that_jobs_error(gc: dict[str, Path]) -> None:
    folder = gc["root"] / "pk0" / "output" / "images" / "vs-cochlea-segmentation"
    p, r = label_pair(seed=0)
    write_labels(folder / "a-first.mha", np.zeros_like(p), geometry(r.shape))
    rc, m = _run(gc, [_job("pk0", CASES[0]), _job("pk1", CASES[1])])
    assert rc == 0
    assert "2 images" in m["errors"][0]["error"] and m["errors"][0]["case"] == CASES[0]
    assert m["case"][CASES[0]]["VS_Dice"] == 0.0
    assert m["case"][CASES[1]]["VS_Dice"] > 0.3


def test_linked_koos_output_is_refused(gc: dict[str, Path], tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"grade": 3, "note": "TOPSECRET"}')
    (gc["root"] / "pk0" / "output" / "koos-grade.json").symlink_to(secret)
    job = _job("pk0", CASES[0])
    del job["outputs"][1]["value"]
    rc, m = _run(gc, [job, _job("pk1", CASES[1])])
    assert rc == 0
    assert "TOPSECRET" not in json.dumps(m)
    assert any("outside the input root" in e["error"] for e in m["errors"])


def test_link_inside_the_root_to_another_job_is_refused(gc: dict[str, Path]) -> None:
    mine = gc["root"] / "pk0" / "output" / "images" / "vs-cochlea-segmentation" / "out.mha"
    mine.unlink()
    mine.symlink_to(gc["root"] / "pk1" / "output" / "images" / "vs-cochlea-segmentation" / "out.mha")
    rc, m = _run(gc, [_job("pk0", CASES[0]), _job("pk1", CASES[1])])
    assert rc == 0
    assert "symbolic link" in m["errors"][0]["error"] and m["errors"][0]["case"] == CASES[0]
    assert m["case"][CASES[0]]["VS_Dice"] == 0.0
