"""Self-training: pseudo-labels on unlabelled target hrT2 crops, cleaned and filtered."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from crossmoda.algorithm.inference.postprocess import clean_labels
from crossmoda.algorithm.inference.sliding_window import predict_volume
from crossmoda.algorithm.model.spec import ClassRoles, ModelSpec, class_roles
from crossmoda.algorithm.training.config import SelfTrainConfig
from crossmoda.algorithm.training.data import Volume

__all__ = ["PseudoLabel", "pseudo_label", "select_pseudo_labels"]

logger = logging.getLogger(__name__)


@dataclass
class PseudoLabel:
    """A pseudo-labelled crop (segmenter classes) and its confidence (mean max-probability over
    predicted tumour and cochlea voxels; 0 when neither was predicted)."""

    case: str
    label: npt.NDArray[np.uint8]
    confidence: float


def pseudo_label(
    net: torch.nn.Module,
    images: Sequence[tuple[str, npt.NDArray[np.float32]]],
    spec: ModelSpec,
    device: torch.device,
) -> list[PseudoLabel]:
    """Predict, clean (:func:`~crossmoda.algorithm.inference.postprocess.clean_labels` with the
    crop, as inference does) and score every ``(case, crop)``."""
    out = []
    for case, image in tqdm(images, desc="pseudo-labels", dynamic_ncols=True):
        probs = predict_volume(net, image, spec.network, device)
        label = clean_labels(probs, spec.preprocess.spacing_mm, image=image, spec=spec.postprocess,
                             label_map=spec.label_map).combined()
        fg = np.isin(label, class_roles(spec.label_map).foreground)
        conf = float(probs.max(axis=0)[fg].mean()) if fg.any() else 0.0
        out.append(PseudoLabel(case, label, conf))
    return out


def select_pseudo_labels(
    labels: Sequence[PseudoLabel], images: dict[str, npt.NDArray[np.float32]], cfg: SelfTrainConfig,
    roles: ClassRoles | None = None,
) -> list[Volume]:
    """Keep cases with a tumour (any of ``roles.vs``), at least one cochlea and confidence >=
    ``cfg.min_confidence``, then the most confident ``cfg.keep_fraction`` of those; returns them
    as training volumes. ``roles``: the classes of the labels (default: 2022's)."""
    roles = roles or class_roles()
    ok = [
        p
        for p in labels
        if p.confidence >= cfg.min_confidence and np.isin(p.label, roles.vs).any()
        and (p.label == roles.cochlea).any()
    ]
    ok.sort(key=lambda p: p.confidence, reverse=True)
    kept = ok[: max(1, int(round(cfg.keep_fraction * len(ok))))] if ok else []
    logger.info(
        "pseudo-labels: %d/%d cases kept (confidence >= %.2f)", len(kept), len(labels), cfg.min_confidence
    )
    return [Volume(p.case, images[p.case], p.label, roles.foreground) for p in kept]
