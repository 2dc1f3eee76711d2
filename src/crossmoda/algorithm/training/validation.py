"""Validation of trained models: segmentation scores on a split through the inference API and
the evaluation package's metrics (never a second implementation), and translation quality."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossmoda.algorithm.inference.predict import load_model, predict_case

__all__ = ["validate_model", "translation_quality"]

logger = logging.getLogger(__name__)


def validate_model(
    model_dir: Path,
    data_dir: Path,
    split: str = "validation",
    device: str = "cpu",
    max_cases: int | None = None,
) -> dict[str, Any]:
    """Dice and ASSD (``crossmoda.evaluation``, the model's label map) of a model folder on
    ``DATA/<split>`` (the model's input modality) against ``DATA/<split>_labels``, predicting
    each image through :func:`predict_case`. A case the model refuses (e.g. ``porus not found``)
    gets the worst values, counts in the mean and is listed with its reason in ``refused``."""
    from tqdm import tqdm

    from crossmoda.algorithm.inference.layout import layout_for
    from crossmoda.core.cases import discover_cases
    from crossmoda.core.errors import CrossmodaError
    from crossmoda.core.io import read_image, read_label_map
    from crossmoda.evaluation.case import CaseConfig, evaluate_arrays, worst_values

    model = load_model(model_dir, device=device)
    labels = model.spec.labels
    images = discover_cases(data_dir / split, layout_for(labels.name).modality).files
    if max_cases is not None:
        images = dict(list(images.items())[:max_cases])
    if not images:
        return {"cases": {}, "mean": {}, "note": f"no {split} images"}
    config = CaseConfig(labels, metrics=("Dice", "ASSD"))
    per_case: dict[str, dict[str, float]] = {}
    seconds = []
    refused: dict[str, str] = {}
    for case, path in tqdm(images.items(), desc=f"validate {split}", dynamic_ncols=True):
        image = read_image(path)
        try:
            pred = predict_case(image, model)
        except CrossmodaError as err:
            logger.warning("%s: refused, scored worst: %s", case, err.problem)
            refused[case] = err.problem
            per_case[case] = worst_values(config)
            continue
        seconds.append(pred.timings_s["total"])
        ref, geo = read_label_map(data_dir / f"{split}_labels" / f"{case}_Label.nii.gz", labels)
        per_case[case] = evaluate_arrays(pred.labels, ref, geo.spacing_mm, config)
    cols = config.columns()
    mean = {c: float(np.mean([v[c] for v in per_case.values()])) for c in cols}
    logger.info("%s %s: %s", model_dir.name, split, ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    return {"cases": per_case, "mean": mean, "refused": refused,
            "seconds_per_case": float(np.mean(seconds)) if seconds else float("nan")}



def translation_quality(pseudo: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """SSIM (7-voxel window) and PSNR (dB) of a pseudo-hrT2 crop against the paired truth crop
    ``(z, y, x)``, the data range taken from the truth."""
    from monai.metrics import PSNRMetric, SSIMMetric

    rng = float(truth.max() - truth.min())
    a = torch.from_numpy(pseudo.astype(np.float32))[None, None]
    b = torch.from_numpy(truth.astype(np.float32))[None, None]
    ssim = SSIMMetric(spatial_dims=3, data_range=rng, win_size=7)(a, b)
    psnr = PSNRMetric(max_val=rng)(a, b)
    assert isinstance(ssim, torch.Tensor) and isinstance(psnr, torch.Tensor)
    return {"SSIM": float(ssim.mean()), "PSNR": float(psnr.mean())}
