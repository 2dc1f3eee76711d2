"""Golden outputs: the shipped models on two small phantom cases give the stored digests.

The cases come from ``crossmoda-phantom`` with a fixed seed (generation is deterministic), both
shipped models run on them in folder mode, and the outputs are reduced to SHA-256 digests:
each label map's voxels (uint8 bytes) with its geometry, ``predictions.csv`` byte for byte, and
the deterministic fields of ``predictions.json`` (everything but timings and provenance, floats
rounded to 6 decimals so the digest does not hinge on the last bit of a BLAS sum).

Regenerate the stored digests only when a change of outputs is intended:
``PYTHONPATH=src python tests/algorithm/test_golden.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "data" / "golden_shipped_models.json"
MODELS = ("adapted", "no_adaptation")
PHANTOM = {"test": 2, "seed": 11, "preset": "small"}
_VOLATILE = {"seconds", "timings_s"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def output_digests(out: Path) -> dict[str, str]:
    """SHA-256 digests of one folder-mode output (see the module docstring)."""
    import SimpleITK as sitk

    from crossmoda.core.io import Geometry, read_image

    digests: dict[str, str] = {}
    for label in sorted(out.glob("*_Label.nii.gz")):
        image = read_image(label)
        array = np.ascontiguousarray(sitk.GetArrayViewFromImage(image), dtype=np.uint8)
        geometry = json.dumps(Geometry.from_image(image).to_dict(), sort_keys=True)
        digests[label.name] = _sha(array.tobytes() + str(array.shape).encode() + geometry.encode())
    digests["predictions.csv"] = _sha((out / "predictions.csv").read_bytes())
    record = json.loads((out / "predictions.json").read_text())
    cases = {name: {k: v for k, v in case.items() if k not in _VOLATILE}
             for name, case in record["cases"].items()}
    stable = {"cases": cases, "failures": record["failures"], "ignored": record["ignored"]}
    digests["predictions.json"] = _sha(json.dumps(_rounded(stable), sort_keys=True).encode())
    return digests


def run_shipped_models(root: Path) -> dict[str, dict[str, str]]:
    """Generate the phantom cases under ``root``, run both shipped models, return their digests."""
    from crossmoda.algorithm.inference.cli import run_algorithm
    from crossmoda.algorithm.model.shipped import shipped_model_dir
    from crossmoda.phantom.config import PhantomConfig
    from crossmoda.phantom.dataset import generate_dataset

    data = root / "data"
    generate_dataset(data, PhantomConfig(source=0, target=0, validation=0, workers=1, **PHANTOM),
                     progress=False)
    result = {}
    for name in MODELS:
        out = root / name
        summary = run_algorithm(data / "test", out, shipped_model_dir(name), mode="folder", device="cpu")
        assert not summary.failures, summary.failures
        result[name] = output_digests(out)
    return result


@pytest.mark.slow
def test_shipped_models_match_golden_digests(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text())
    assert expected["phantom"] == PHANTOM
    got = run_shipped_models(tmp_path)
    for name in MODELS:
        assert len(got[name]) == PHANTOM["test"] + 2
        assert got[name] == expected["digests"][name], name


if __name__ == "__main__":
    import tempfile

    if "--write" not in sys.argv:
        sys.exit("usage: test_golden.py --write   (rewrites the stored digests)")
    with tempfile.TemporaryDirectory() as tmp:
        digests = run_shipped_models(Path(tmp))
    GOLDEN.write_text(json.dumps({"phantom": PHANTOM, "digests": digests}, indent=2) + "\n")
    print(f"wrote {GOLDEN}")
