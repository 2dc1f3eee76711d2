"""Inference API: load a model folder and segment one hrT2 image on its exact geometry.

A model folder is described in :mod:`crossmoda.algorithm.model.spec`. ``predict_case`` runs:
localisation -> crop at the working spacing -> normalisation -> sliding-window DynUNet
(optional flip TTA, mixed precision on CUDA) -> probabilities back onto the input grid ->
post-processing (:func:`~crossmoda.algorithm.inference.postprocess.clean_labels`).

A crossMoDA 2023 model refuses an image in which the localisation finds no internal auditory
canal (:func:`~crossmoda.algorithm.inference.localise.check_porus_found`): its extra-/intra-meatal
split would be meaningless. 2022 models segment whatever the match.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
import torch

from crossmoda.algorithm.inference.frame import box_at, normalise, resample_box, roi_to_input
from crossmoda.algorithm.inference.localise import canal_coverage, check_porus_found, localise
from crossmoda.algorithm.inference.postprocess import clean_labels
from crossmoda.algorithm.inference.sliding_window import predict_volume
from crossmoda.algorithm.model.network import build_segmenter, load_state, resolve_device
from crossmoda.algorithm.model.spec import TEMPLATE_FILE, WEIGHTS_FILE, ModelError, ModelSpec, read_model_json
from crossmoda.core.errors import CrossmodaError
from crossmoda.core.io import Geometry, array_to_image
from crossmoda.core.labels import LABELS_2023

__all__ = [
    "MAX_SPACING_MM",
    "MIN_SLICES",
    "Model",
    "CasePrediction",
    "check_input_grid",
    "load_model",
    "predict_crop",
    "predict_case",
]

logger = logging.getLogger(__name__)

MAX_SPACING_MM = 8.0
"""Coarsest voxel spacing (mm, any axis) segmented: the cochlea is about 5 mm tall and the
intra-meatal tumour part a few mm wide, so thicker slices (or thick slices with wide gaps: the
spacing is thickness + gap) cannot show them. Routine 2D T2 has 3-5 mm slices, gaps up to 1.5 mm."""
MIN_SLICES = 3
"""Fewest voxels along any axis: a single-slice (2D) image has no 3D anatomy to localise."""


@dataclass
class Model:
    """A loaded segmentation model (see :func:`load_model`)."""

    net: torch.nn.Module
    template: npt.NDArray[np.float32]
    spec: ModelSpec
    metadata: dict[str, Any]
    device: torch.device
    path: Path | None = None


@dataclass
class CasePrediction:
    """Prediction for one image, every array ``uint8 (z, y, x)`` on the input's exact grid.

    Attributes:
        labels: In the model's label map: 2022 0 background, 1 VS, 2 cochlea (LABELS_2022);
            2023 1 extra-meatal VS, 2 intra-meatal VS, 3 cochlea (LABELS_2023).
        aux: 0 background, 1 brainstem, 2 cerebellum (AUX_LABELS).
        geometry: The input geometry.
        vs_probability: Mean VS probability inside the predicted VS (0 when none).
        localisation: World centre (mm) of the crop, the template NCC score and the crop box;
            2023 models add ``canal_coverage`` (see
            :func:`~crossmoda.algorithm.inference.localise.canal_coverage`).
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


def load_model(model_dir: str | Path, device: str = "auto") -> Model:
    """Load and check a model folder from its :class:`ModelSpec` (any readable format version).

    Raises:
        ModelError: missing files, or ``model.json`` different from what this code expects, or
            weights that do not fit the network (the message says which).
    """
    root = Path(model_dir)
    spec, meta = read_model_json(root)
    missing = [name for name in (WEIGHTS_FILE, TEMPLATE_FILE) if not (root / name).is_file()]
    if missing:
        problems = "; ".join(f"{n} missing" for n in missing)
        raise ModelError(root, f"model does not match this code: {problems}")
    dev = resolve_device(device)
    net = build_segmenter(spec.network.filters, out_channels=len(spec.classes))
    try:
        state = load_state(root / WEIGHTS_FILE)
    except Exception as err:  # torch raises several types for a file that is not a state dict
        raise ModelError(root / WEIGHTS_FILE, f"not a readable weights file ({_first_line(err)})") from None
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ModelError(
            root / WEIGHTS_FILE, f"weights do not fit the network in model.json: {err}"
        ) from None
    net.to(dev).eval()
    try:
        template = np.load(root / TEMPLATE_FILE, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError, EOFError) as err:
        raise ModelError(root / TEMPLATE_FILE, f"not a readable .npy array ({_first_line(err)})") from None
    if template.shape != tuple(spec.preprocess.template_shape):
        raise ModelError(
            root / TEMPLATE_FILE, f"template shape {template.shape} != {spec.preprocess.template_shape}"
        )
    return Model(net, template, spec, meta, dev, root)


def predict_crop(model: Model, crop: npt.NDArray[np.float32], tta: bool = False) -> npt.NDArray[np.float32]:
    """Class probabilities ``(C, z, y, x)`` of a normalised working-spacing crop ``(z, y, x)``
    (``C = len(model.spec.classes)``)."""
    return predict_volume(model.net, crop, model.spec.network, model.device, tta=tta)


def predict_case(image: sitk.Image, model: Model, tta: bool = False) -> CasePrediction:
    """Segment VS, cochleas, brainstem and cerebellum in one hrT2 image of any field of view.

    Args:
        image: 3D hrT2 (any orientation, spacing, oblique direction).
        model: From :func:`load_model`.
        tta: Average with the left-right flipped prediction.

    Raises:
        CrossmodaError: a grid the model cannot segment (:func:`check_input_grid`), or, for a 2023
            model, an image in which the canals are not found (``porus not found: ...``).
    """
    t0 = time.perf_counter()
    check_input_grid(image)
    geometry = Geometry.from_image(image)
    pre = model.spec.preprocess
    centre, score = localise(image, model.template, pre)
    box = box_at(centre, pre.spacing_mm, pre.roi_shape)
    localisation: dict[str, Any] = {"centre_mm": list(centre), "ncc": score, "box": box.to_dict()}
    if model.spec.label_map == LABELS_2023.name:
        coverage = canal_coverage(image, centre, pre)
        check_porus_found(score, coverage)
        localisation["canal_coverage"] = coverage
    t1 = time.perf_counter()
    crop = normalise(resample_box(image, box), pre.clip_percentiles)
    t2 = time.perf_counter()
    probs = predict_crop(model, crop, tta=tta)
    t3 = time.perf_counter()
    sub, slices = roi_to_input(probs, box, image)
    spacing_zyx = (float(image.GetSpacing()[2]), float(image.GetSpacing()[1]), float(image.GetSpacing()[0]))
    clean = clean_labels(sub, spacing_zyx, _lateral_mm(image, slices, centre[0]),
                         sitk.GetArrayViewFromImage(image)[slices], model.spec.postprocess,
                         label_map=model.spec.label_map)
    labels = np.zeros(geometry.shape, dtype=np.uint8)
    aux = np.zeros(geometry.shape, dtype=np.uint8)
    labels[slices] = clean.labels
    aux[slices] = clean.aux
    n_vs = len(model.spec.labels.region("VS").labels)  # VS channels: 1 (2022) or 1-2 (2023)
    vs_prob = float(sub[1:1 + n_vs].sum(axis=0)[clean.vs].mean()) if clean.vs.any() else 0.0
    t4 = time.perf_counter()
    return CasePrediction(
        labels=labels,
        aux=aux,
        geometry=geometry,
        vs_probability=vs_prob,
        localisation=localisation,
        timings_s={"localise": t1 - t0, "crop": t2 - t1, "segment": t3 - t2, "postprocess": t4 - t3,
                   "total": t4 - t0},
    )


def check_input_grid(image: sitk.Image) -> None:
    """Refuse a grid the model cannot segment: a single-slice (2D) image, or slices too thick or
    too far apart (:data:`MAX_SPACING_MM`, :data:`MIN_SLICES`).

    Raises:
        CrossmodaError: the message names the size or spacing and the limit.
    """
    size, spacing = image.GetSize(), image.GetSpacing()
    if min(size) < MIN_SLICES:
        raise CrossmodaError(None, f"a 2D image (size {size} voxels, x y z): the model needs a 3D "
                                   f"volume with at least {MIN_SLICES} voxels along every axis")
    if max(spacing) > MAX_SPACING_MM:
        text = ", ".join(f"{v:g}" for v in spacing)
        raise CrossmodaError(None, f"voxel spacing ({text}) mm: slices thicker or further apart than "
                                   f"{MAX_SPACING_MM:g} mm cannot show the cochlea or the "
                                   "intra-meatal tumour; not segmented")


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


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
