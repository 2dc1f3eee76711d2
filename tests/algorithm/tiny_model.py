"""A tiny, randomly initialised model folder (seeded) for end-to-end tests of the algorithm."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from crossmoda.algorithm.inference.localise import coarse_template_patch
from crossmoda.algorithm.model.network import build_segmenter
from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.algorithm.model.spec import (
    KOOS_MODEL_FILE,
    ModelSpec,
    NetworkSpec,
    PreprocessConfig,
    model_json,
)
from crossmoda.core.labels import LABELS_2022
from tests.algorithm.synthetic import make_image, render

TINY = ModelSpec(
    PreprocessConfig(spacing_mm=(2.0, 1.0, 1.0), roi_shape=(12, 40, 72), template_shape=(8, 12, 28),
                     search_margin_mm=8.0),
    NetworkSpec(filters=(4, 8, 16), patch=(8, 32, 32)),
)
"""Network, crop and template small enough for a CPU test (2 mm x 1 mm x 1 mm crop grid)."""


def head_template(cfg: PreprocessConfig = TINY.preprocess) -> npt.NDArray[np.float32]:
    """A localisation template cut from a synthetic hrT2 head (:mod:`tests.algorithm.synthetic`)
    at its centre: matches the synthetic heads of the tests with NCC about 0.9."""
    grid = make_image((84, 52, 16), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    image = render(grid, np.zeros(3), -1, 5.0, "hrT2", np.random.default_rng(0))[0]
    return coarse_template_patch(image, (0.0, 0.0, 0.0), cfg)


def write_tiny_model(root: Path, label_map: str = LABELS_2022.name) -> Path:
    """Write :data:`TINY` for ``label_map`` with seeded random weights into the new folder
    ``root``; returns ``root``. A 2022 model gets a seeded random template and the shipped
    (plain-JSON) Koos grader; a 2023 model (no Koos task) gets :func:`head_template`, since it
    refuses images where the template finds no canals."""
    spec = replace(TINY, label_map=label_map)
    torch.manual_seed(0)
    root.mkdir(parents=True)
    torch.save(build_segmenter(spec.network.filters, out_channels=len(spec.classes)).state_dict(),
               root / "segmenter.pt")
    if label_map == LABELS_2022.name:
        template = np.random.default_rng(0).random(spec.preprocess.template_shape).astype(np.float32)
        shutil.copyfile(shipped_model_dir() / KOOS_MODEL_FILE, root / KOOS_MODEL_FILE)
    else:
        template = head_template(spec.preprocess)
    np.save(root / "template_hrT2.npy", template)
    (root / "model.json").write_text(json.dumps(model_json(spec, seed=0)))
    return root
