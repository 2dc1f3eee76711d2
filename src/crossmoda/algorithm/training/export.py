"""Model folders written by training: weights, template and ``model.json`` (the
:class:`~crossmoda.algorithm.model.spec.ModelSpec` of the configuration plus provenance)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from crossmoda.algorithm.model.network import save_state
from crossmoda.algorithm.model.spec import MODEL_FILE, TEMPLATE_FILE, WEIGHTS_FILE, model_json
from crossmoda.algorithm.training.config import TrainConfig
from crossmoda.algorithm.training.run_index import RunIndex
from crossmoda.core.provenance import provenance, write_json_atomic

__all__ = ["export_model", "data_description"]


def export_model(
    model_dir: Path,
    weights: dict[str, torch.Tensor],
    run_dir: Path,
    cfg: TrainConfig,
    stage: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a complete model folder (weights, template, ``model.json``); call on rank 0 only."""
    model_dir.mkdir(parents=True, exist_ok=True)
    save_state(model_dir / WEIGHTS_FILE, {k: v.detach().cpu().contiguous() for k, v in weights.items()})
    shutil.copyfile(run_dir / "data" / TEMPLATE_FILE, model_dir / TEMPLATE_FILE)
    meta = model_json(
        cfg.model_spec(),
        stage=stage,
        mode=cfg.mode,
        seed=cfg.seed,
        command=" ".join(["crossmoda-train", *sys.argv[1:]]) if sys.argv else None,
        train_config=cfg.to_dict(),
        data=data_description(run_dir),
        **(extra or {}),
        provenance=provenance("crossmoda-train", cfg),
    )
    write_json_atomic(model_dir / MODEL_FILE, meta)
    return model_dir


def data_description(run_dir: Path) -> dict[str, Any]:
    """Where the training data came from: path, case counts and the generator's config if any."""
    index = RunIndex.read(run_dir / "data")
    path = index.data_path
    out: dict[str, Any] = {"path": path, "n_source": len(index.source), "n_target": len(index.target)}
    generator = Path(path) / "phantom_config.json" if path else None
    if generator is not None and generator.is_file():
        out["phantom_config"] = json.loads(generator.read_text(encoding="utf-8"))
    return out
