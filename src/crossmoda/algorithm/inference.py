"""Inference API: load a model folder and segment one hrT2 image on its exact geometry.

A model folder holds ``model.json`` (format version, label maps, working spacing, crop and
network configuration, the command, seed and data that made it), ``segmenter.pt`` (DynUNet
state dict, loadable with ``torch.load(weights_only=True)``) and ``template_hrT2.npy`` (the
localisation template). ``predict_case`` runs: localisation -> crop at the working spacing ->
normalisation -> sliding-window DynUNet (optional flip TTA, mixed precision on CUDA) ->
probabilities back onto the input grid -> post-processing (largest VS component, one cochlea
per side).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
import torch

from crossmoda.algorithm.config import CLASS_NAMES, PreprocessConfig, SegmentConfig, config_from_dict
from crossmoda.algorithm.postprocess import (
    largest_components,
    one_component_per_side,
    refine_bright,
    vs_component,
)
from crossmoda.algorithm.preprocess import box_at, localise, normalise, resample_box, roi_to_input
from crossmoda.algorithm.segmentation import build_segmenter, load_state, predict_volume, resolve_device
from crossmoda.core.errors import CrossmodaError
from crossmoda.core.io import Geometry, array_to_image
from crossmoda.core.labels import AUX_LABELS, LABELS_2022

__all__ = [
    "MODEL_FORMAT_VERSION",
    "ModelError",
    "Model",
    "CasePrediction",
    "model_metadata",
    "shipped_model_dir",
    "load_model",
    "predict_crop",
    "predict_case",
]

logger = logging.getLogger(__name__)

MODEL_FORMAT_VERSION = 1
"""Version of the model folder layout; :func:`load_model` refuses any other."""


class ModelError(CrossmodaError):
    """A model folder is missing files or its metadata does not match this code."""


@dataclass
class Model:
    """A loaded segmentation model (see :func:`load_model`)."""

    net: torch.nn.Module
    template: npt.NDArray[np.float32]
    preprocess: PreprocessConfig
    segment: SegmentConfig
    metadata: dict[str, Any]
    device: torch.device
    path: Path | None = None


@dataclass
class CasePrediction:
    """Prediction for one image, every array ``uint8 (z, y, x)`` on the input's exact grid.

    Attributes:
        labels: 0 background, 1 VS, 2 cochlea (LABELS_2022).
        aux: 0 background, 1 brainstem, 2 cerebellum (AUX_LABELS).
        geometry: The input geometry.
        vs_probability: Mean VS probability inside the predicted VS (0 when none).
        localisation: World centre (mm) of the crop and the template NCC score.
        timings_s: Seconds per step.
    """

    labels: npt.NDArray[np.uint8]
    aux: npt.NDArray[np.uint8]
    geometry: Geometry
    vs_probability: float
    localisation: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def label_image(self) -> sitk.Image:
        """``labels`` as a SimpleITK image on the input geometry."""
        return array_to_image(self.labels, self.geometry)

    def aux_image(self) -> sitk.Image:
        """``aux`` as a SimpleITK image on the input geometry."""
        return array_to_image(self.aux, self.geometry)


def model_metadata(preprocess: PreprocessConfig, segment: SegmentConfig, **extra: Any) -> dict[str, Any]:
    """The ``model.json`` content checked by :func:`load_model` (plus ``extra`` provenance keys)."""
    from dataclasses import asdict

    return {
        "format_version": MODEL_FORMAT_VERSION,
        "classes": list(CLASS_NAMES),
        "label_map": LABELS_2022.to_dict(),
        "aux_label_map": AUX_LABELS.to_dict(),
        "preprocess": asdict(preprocess),
        "segment": asdict(segment),
        **extra,
    }


def shipped_model_dir(name: str = "adapted") -> Path:
    """Folder of a model shipped with the package (``adapted`` or ``no_adaptation``)."""
    path = Path(__file__).resolve().parent / "models" / name
    if not (path / "model.json").is_file():
        raise ModelError(path, f"no shipped model {name!r} (model.json missing)")
    return path


def load_model(model_dir: str | Path, device: str = "auto") -> Model:
    """Load and check a model folder.

    Raises:
        ModelError: missing files, or format version, classes, label maps or working spacing
            different from what this code expects (the message names each mismatch).
    """
    root = Path(model_dir)
    meta_path = root / "model.json"
    if not meta_path.is_file():
        raise ModelError(root, "not a model folder: model.json missing")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    problems = []
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        problems.append(f"format_version {meta.get('format_version')!r} != {MODEL_FORMAT_VERSION}")
    if meta.get("classes") != list(CLASS_NAMES):
        problems.append(f"classes {meta.get('classes')!r} != {list(CLASS_NAMES)}")
    if meta.get("label_map") != LABELS_2022.to_dict():
        problems.append(f"label map {meta.get('label_map')!r} != {LABELS_2022.to_dict()}")
    if meta.get("aux_label_map") != AUX_LABELS.to_dict():
        problems.append(f"aux label map {meta.get('aux_label_map')!r} != {AUX_LABELS.to_dict()}")
    spacing = (meta.get("preprocess") or {}).get("spacing_mm")
    if not (isinstance(spacing, list) and len(spacing) == 3 and all(float(s) > 0 for s in spacing)):
        problems.append(f"working spacing {spacing!r} is not three positive numbers (z, y, x mm)")
    for name in ("segmenter.pt", "template_hrT2.npy"):
        if not (root / name).is_file():
            problems.append(f"{name} missing")
    if problems:
        raise ModelError(meta_path, "model does not match this code: " + "; ".join(problems))
    cfg = config_from_dict({"preprocess": meta["preprocess"], "segment": meta["segment"]})
    dev = resolve_device(device)
    net = build_segmenter(cfg.segment)
    try:
        net.load_state_dict(load_state(root / "segmenter.pt"))
    except RuntimeError as err:
        raise ModelError(
            root / "segmenter.pt", f"weights do not fit the network in model.json: {err}"
        ) from None
    net.to(dev).eval()
    template = np.load(root / "template_hrT2.npy").astype(np.float32)
    if template.shape != tuple(cfg.preprocess.template_shape):
        raise ModelError(
            root / "template_hrT2.npy", f"template shape {template.shape} != {cfg.preprocess.template_shape}"
        )
    return Model(net, template, cfg.preprocess, cfg.segment, meta, dev, root)


def predict_crop(model: Model, crop: npt.NDArray[np.float32], tta: bool = False) -> npt.NDArray[np.float32]:
    """Class probabilities ``(5, z, y, x)`` of a normalised working-spacing crop ``(z, y, x)``."""
    return predict_volume(model.net, crop, model.segment, model.device, tta=tta)


def predict_case(image: sitk.Image, model: Model, tta: bool = False) -> CasePrediction:
    """Segment VS, cochleas, brainstem and cerebellum in one hrT2 image of any field of view.

    Args:
        image: 3D hrT2 (any orientation, spacing, oblique direction).
        model: From :func:`load_model`.
        tta: Average with the left-right flipped prediction.
    """
    t0 = time.perf_counter()
    geometry = Geometry.from_image(image)
    pre = model.preprocess
    centre, score = localise(image, model.template, pre)
    t1 = time.perf_counter()
    box = box_at(centre, pre.spacing_mm, pre.roi_shape)
    crop = normalise(resample_box(image, box), pre.clip_percentiles)
    t2 = time.perf_counter()
    probs = predict_crop(model, crop, tta=tta)
    t3 = time.perf_counter()
    sub, slices = roi_to_input(probs, box, image)
    arg = np.argmax(sub, axis=0).astype(np.uint8)
    lateral = _lateral_mm(image, slices, centre[0])
    cochlea = one_component_per_side(arg == 2, lateral)
    spacing_zyx = tuple(float(v) for v in image.GetSpacing()[::-1])
    cochlea = refine_bright(
        cochlea,
        sitk.GetArrayViewFromImage(image)[slices],
        spacing_zyx,  # type: ignore[arg-type]
        model.segment.cochlea_refine_mm,
        model.segment.cochlea_context_mm,
    )
    vs = vs_component(arg == 1, sub[1], cochlea, spacing_zyx)  # type: ignore[arg-type]
    brainstem = largest_components(arg == 3, 1)
    cerebellum = largest_components(arg == 4, 2)
    labels = np.zeros(geometry.shape, dtype=np.uint8)
    aux = np.zeros(geometry.shape, dtype=np.uint8)
    labels[slices][cochlea] = 2
    labels[slices][vs] = 1
    aux[slices][brainstem] = 1
    aux[slices][cerebellum & ~brainstem] = 2
    vs_prob = float(sub[1][vs].mean()) if vs.any() else 0.0
    t4 = time.perf_counter()
    return CasePrediction(
        labels=labels,
        aux=aux,
        geometry=geometry,
        vs_probability=vs_prob,
        localisation={"centre_mm": list(centre), "ncc": score, "box": box.to_dict()},
        timings_s={
            "localise": t1 - t0,
            "crop": t2 - t1,
            "segment": t3 - t2,
            "postprocess": t4 - t3,
            "total": t4 - t0,
        },
    )


def _lateral_mm(
    image: sitk.Image, slices: tuple[slice, slice, slice], midline_x: float
) -> npt.NDArray[np.float64]:
    """World x (mm) minus ``midline_x`` at every voxel of the sub-grid ``slices`` (any direction)."""
    zz, yy, xx = (np.arange(s.start, s.stop, dtype=np.float64) for s in slices)
    d = np.asarray(image.GetDirection()).reshape(3, 3)
    sp, org = np.asarray(image.GetSpacing()), np.asarray(image.GetOrigin())
    # world x = org_x + sum_j d[0, j] * sp[j] * index_j, index order (x, y, z)
    return (
        org[0]
        - midline_x
        + d[0, 0] * sp[0] * xx[None, None, :]
        + d[0, 1] * sp[1] * yy[None, :, None]
        + d[0, 2] * sp[2] * zz[:, None, None]
    )
