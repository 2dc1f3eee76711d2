"""Inference API: model folder checks and exact output geometry on oblique anisotropic input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmoda.algorithm.inference.predict import load_model, predict_case
from crossmoda.algorithm.model.network import build_segmenter
from crossmoda.algorithm.model.spec import ModelError, ModelSpec, NetworkSpec, PreprocessConfig, model_json
from crossmoda.core.io import Geometry, compare_geometry
from tests.algorithm.synthetic import make_image, render

PRE = PreprocessConfig(
    spacing_mm=(2.0, 1.0, 1.0), roi_shape=(12, 40, 72), template_shape=(8, 12, 28), search_margin_mm=8.0
)
NET = NetworkSpec(patch=(8, 32, 32), filters=(4, 8, 16))
SPEC = ModelSpec(PRE, NET)


def _model_dir(root: Path) -> Path:
    torch.manual_seed(0)
    root.mkdir(parents=True, exist_ok=True)
    torch.save(build_segmenter(NET.filters).state_dict(), root / "segmenter.pt")
    np.save(
        root / "template_hrT2.npy", np.random.default_rng(0).random(PRE.template_shape).astype(np.float32)
    )
    (root / "model.json").write_text(json.dumps(model_json(SPEC, seed=0)))
    return root


def test_load_model_refuses_mismatched_metadata(tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "m")
    model = load_model(root, device="cpu")
    assert model.spec == SPEC
    meta = json.loads((root / "model.json").read_text())
    meta["label_map"]["labels"] = {"1": "VS", "2": "intra-meatal VS", "3": "cochlea"}
    meta["preprocess"]["spacing_mm"] = [0.0, 1.0, 1.0]
    (root / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="label map") as err:
        load_model(root, device="cpu")
    assert "working spacing" in str(err.value)
    (root / "model.json").unlink()
    with pytest.raises(ModelError, match="model.json missing"):
        load_model(root, device="cpu")


def test_load_model_refuses_weights_of_another_network(tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "m")
    torch.save(build_segmenter((4, 8, 32)).state_dict(), root / "segmenter.pt")
    with pytest.raises(ModelError, match="weights do not fit"):
        load_model(root, device="cpu")


def test_predict_case_returns_labels_on_the_exact_input_geometry(tmp_path: Path) -> None:
    model = load_model(_model_dir(tmp_path / "m"), device="cpu")
    a = np.deg2rad(12.0)
    direction = (np.cos(a), 0.0, np.sin(a), 0.0, 1.0, 0.0, -np.sin(a), 0.0, np.cos(a))
    grid = make_image((70, 45, 11), (0.93, 1.1, 2.7), (1.0, 2.0, 3.0), tuple(float(v) for v in direction))
    image = render(grid, np.array([1.0, 2.0, 3.0]), 1, 5.0, "hrT2", np.random.default_rng(0))[0]
    pred = predict_case(image, model, tta=True)
    assert compare_geometry(pred.geometry, Geometry.from_image(image)) == []
    assert compare_geometry(Geometry.from_image(pred.label_image()), Geometry.from_image(image)) == []
    assert pred.labels.shape == pred.aux.shape == (11, 45, 70)
    assert set(np.unique(pred.labels)) <= {0, 1, 2} and set(np.unique(pred.aux)) <= {0, 1, 2}
    assert set(pred.timings_s) >= {"localise", "segment", "total"}


def test_format_1_model_json_reads_into_the_same_spec_and_unknown_versions_are_refused() -> None:
    from crossmoda.algorithm.model.shipped import shipped_model_dir
    from crossmoda.algorithm.model.spec import PostprocessSpec, read_model_json, spec_from_model_json

    spec, meta = read_model_json(shipped_model_dir("adapted"))
    assert meta["format_version"] == 1  # the shipped folders are kept as they were made
    assert spec.network == NetworkSpec(filters=(16, 32, 48, 64, 96), patch=(32, 64, 64), sw_overlap=0.25)
    assert spec.postprocess == PostprocessSpec(cochlea_refine_mm=0.8, cochlea_context_mm=2.0)
    assert spec.preprocess == PreprocessConfig()
    rewritten = model_json(spec)  # the current format holds the same spec
    assert rewritten["format_version"] == 2 and spec_from_model_json(rewritten) == spec
    with pytest.raises(ModelError, match="format_version 3"):
        spec_from_model_json({**rewritten, "format_version": 3})
