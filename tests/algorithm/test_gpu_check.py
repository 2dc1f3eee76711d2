"""The device check's CPU fallback (``benchmarks/gpu_check.py --device cpu``) on tiny inputs: every
section runs and reports what the GPU run will report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.algorithm.synthetic import make_image, render
from tests.algorithm.tiny_model import write_tiny_model

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _cases(root: Path, n: int = 2) -> tuple[Path, Path]:
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        grid = make_image((70, 45, 11), (0.9, 0.9, 2.5), (1.0, 2.0, 3.0))
        image, label, _ = render(grid, np.array([1.0, 2.0, 3.0]), 1 - 2 * k, 5.0, "hrT2", rng)
        sitk.WriteImage(image, str(images / f"crossmoda2022_etz_{k}_hrT2.nii.gz"))
        sitk.WriteImage(label, str(labels / f"crossmoda2022_etz_{k}_Label.nii.gz"))
    return images, labels


@pytest.mark.slow
def test_gpu_check_cpu_fallback_reports_every_section(tmp_path: Path) -> None:
    images, labels = _cases(tmp_path / "cases")
    out = tmp_path / "out"
    sys.path.insert(0, str(BENCH))  # also for the DDP ranks, which import the module again
    try:
        import gpu_check

        rc = gpu_check.main(["--device", "cpu", "--input", str(images), "--labels", str(labels), "--model",
                             str(write_tiny_model(tmp_path / "model")), "--output", str(out), "--work",
                             str(tmp_path / "work"), "--steps", "2", "--ddp", "on"])
    finally:
        sys.path.remove(str(BENCH))
    assert rc == 0
    result = json.loads((out / "gpu_check.json").read_text())
    rows = result["inference"]["cases"]
    assert sorted((r["case"], r["precision"]) for r in rows) == sorted(
        (f"crossmoda2022_etz_{k}", p) for k in range(2) for p in ("amp", "fp32")
    )
    for r in rows:
        assert set(r["seconds"]) >= {"read", "localise", "segment", "postprocess", "koos", "write", "total"}
        assert 0.0 <= r["dice"]["VS"] <= 1.0 and r["koos"] in (1, 2, 3, 4)
        assert (tmp_path / "work" / "output" / r["precision"] / f"{r['case']}_Label.nii.gz").is_file()
    amp = [r for r in rows if r["precision"] == "amp"]
    assert all(set(r["dice_amp_vs_fp32"]) == {"VS", "Cochlea"} for r in amp)
    assert result["inference"]["max_abs_dice_change_amp"] is not None
    train = result["training"]
    assert train["scale"] == "tiny"
    for stage in ("translate", "segment"):
        seconds = train[stage]["s_per_it"]  # None: a step was lost in the noise of shared cores
        assert (seconds is None or seconds > 0) and train[stage]["peak_gpu_gb"] is None
    assert train["segment"]["data_s_per_batch"] > 0 and train["self_train"]["pseudo_label_s_per_crop"] > 0
    assert result["ddp"]["backend"] == "gloo" and result["ddp"]["weights_identical"] is True
    table = (out / "gpu_check.md").read_text()
    assert table.count("\n") == 2 + len(rows) + 3


def test_gpu_check_wrapper_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(BENCH / "gpu_check.sh")], check=True)
