"""A tiny, randomly initialised model folder (seeded) for end-to-end tests of the algorithm."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from crossmoda.algorithm.model.network import build_segmenter
from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.algorithm.model.spec import (
    KOOS_MODEL_FILE,
    ModelSpec,
    NetworkSpec,
    PreprocessConfig,
    model_json,
)

TINY = ModelSpec(
    PreprocessConfig(spacing_mm=(2.0, 1.0, 1.0), roi_shape=(12, 40, 72), template_shape=(8, 12, 28),
                     search_margin_mm=8.0),
    NetworkSpec(filters=(4, 8, 16), patch=(8, 32, 32)),
)
"""Network, crop and template small enough for a CPU test (2 mm x 1 mm x 1 mm crop grid)."""


def write_tiny_model(root: Path, label_map: str = TINY.label_map) -> Path:
    """Write :data:`TINY` for ``label_map`` (``crossmoda2022`` or ``crossmoda2023``: the network's
    output classes follow it) with seeded random weights and template, and the shipped
    (plain-JSON) Koos grader, into the new folder ``root``; returns ``root``."""
    spec = dataclasses.replace(TINY, label_map=label_map)
    torch.manual_seed(0)
    root.mkdir(parents=True)
    net = build_segmenter(spec.network.filters, out_channels=len(spec.classes))
    torch.save(net.state_dict(), root / "segmenter.pt")
    template = np.random.default_rng(0).random(spec.preprocess.template_shape).astype(np.float32)
    np.save(root / "template_hrT2.npy", template)
    (root / "model.json").write_text(json.dumps(model_json(spec, seed=0)))
    shutil.copyfile(shipped_model_dir() / KOOS_MODEL_FILE, root / KOOS_MODEL_FILE)
    return root
