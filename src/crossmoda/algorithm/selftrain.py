"""Self-training: pseudo-labels on unlabelled target hrT2 crops, cleaned and filtered."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from crossmoda.algorithm.config import SegmentConfig, SelfTrainConfig
from crossmoda.algorithm.data import Volume
from crossmoda.algorithm.postprocess import (
    largest_components,
    one_component_per_side,
    refine_bright,
    vs_component,
)
from crossmoda.algorithm.segmentation import predict_volume

__all__ = ["PseudoLabel", "clean_labels", "pseudo_label", "select_pseudo_labels"]

logger = logging.getLogger(__name__)


@dataclass
class PseudoLabel:
    """A pseudo-labelled crop and its confidence (mean max-probability over predicted VS and
    cochlea voxels; 0 when neither was predicted)."""

    case: str
    label: npt.NDArray[np.uint8]
    confidence: float


def clean_labels(
    probs: npt.NDArray[np.floating],
    spacing_mm: tuple[float, float, float],
    image: npt.NDArray[np.floating] | None = None,
    cochlea_refine_mm: float = 0.0,
    cochlea_context_mm: float = 2.0,
) -> npt.NDArray[np.uint8]:
    """Connected-component cleaning of class probabilities ``(5, z, y, x)`` of a crop: the VS
    component next to a cochlea (:func:`vs_component`), brainstem, one cochlea per side of the
    crop's midline (x centre), two largest cerebellum parts. ``spacing_mm`` in ``(z, y, x)``.
    With the hrT2 crop ``image`` and ``cochlea_refine_mm > 0``, each cochlea is snapped to the
    bright fluid (:func:`refine_bright`)."""
    arg = np.argmax(probs, axis=0)
    x = np.arange(arg.shape[2], dtype=np.float64) - (arg.shape[2] - 1) / 2
    out = np.zeros(arg.shape, dtype=np.uint8)
    out[largest_components(arg == 4, 2)] = 4
    out[largest_components(arg == 3, 1)] = 3
    cochlea = one_component_per_side(arg == 2, x[None, None, :])
    if image is not None and cochlea_refine_mm > 0:
        cochlea = refine_bright(cochlea, image, spacing_mm, cochlea_refine_mm, cochlea_context_mm)
    out[cochlea] = 2
    out[vs_component(arg == 1, probs[1], cochlea, spacing_mm)] = 1
    return out


def pseudo_label(
    net: torch.nn.Module,
    images: Sequence[tuple[str, npt.NDArray[np.float32]]],
    cfg: SegmentConfig,
    device: torch.device,
    spacing_mm: tuple[float, float, float],
) -> list[PseudoLabel]:
    """Predict, clean (:func:`clean_labels`, crop spacing ``spacing_mm`` in ``(z, y, x)``, the
    cochlea snapped to the crop's bright fluid per ``cfg.cochlea_refine_mm``) and score every
    ``(case, crop)``."""
    out = []
    for case, image in tqdm(images, desc="pseudo-labels", dynamic_ncols=True):
        probs = predict_volume(net, image, cfg, device)
        label = clean_labels(
            probs, spacing_mm, image, cfg.cochlea_refine_mm, cfg.cochlea_context_mm
        )
        fg = (label == 1) | (label == 2)
        conf = float(probs.max(axis=0)[fg].mean()) if fg.any() else 0.0
        out.append(PseudoLabel(case, label, conf))
    return out


def select_pseudo_labels(
    labels: Sequence[PseudoLabel], images: dict[str, npt.NDArray[np.float32]], cfg: SelfTrainConfig
) -> list[Volume]:
    """Keep cases with a VS, at least one cochlea and confidence >= ``cfg.min_confidence``, then the
    most confident ``cfg.keep_fraction`` of those; returns them as training volumes."""
    ok = [
        p
        for p in labels
        if p.confidence >= cfg.min_confidence and (p.label == 1).any() and (p.label == 2).any()
    ]
    ok.sort(key=lambda p: p.confidence, reverse=True)
    kept = ok[: max(1, int(round(cfg.keep_fraction * len(ok))))] if ok else []
    logger.info(
        "pseudo-labels: %d/%d cases kept (confidence >= %.2f)", len(kept), len(labels), cfg.min_confidence
    )
    return [Volume(p.case, images[p.case], p.label) for p in kept]
