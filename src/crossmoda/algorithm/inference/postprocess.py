"""Post-processing of class probabilities into label maps: one VS next to a cochlea, at most one
cochlea per side (snapped to the hrT2's bright fluid), the brainstem and two cerebellum parts.
:func:`clean_labels` is the one entry point, used by inference (on the input grid), by
self-training (pseudo-labels on crops) and for the Koos grader's training inputs.

For a 2023 model (extra-/intra-meatal VS, cochlea) the VS cleaning applies to the union of the
two tumour parts (their probabilities summed), and each kept tumour voxel then takes the part of
larger probability; the cochlea is cleaned as for 2022 and written as label 3. Three optional rules
(:class:`~crossmoda.algorithm.model.spec.PostprocessSpec`, on in the shipped 2023 model only): no
tumour on voxels darker than :func:`dark_threshold`, no tumour at all when the one kept is as
bright as fluid (:func:`fluid_like`), and an extra-meatal part below a volume relabelled
intra-meatal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from scipy import ndimage

from crossmoda.algorithm.model.spec import MODEL_LABEL_MAPS, PostprocessSpec
from crossmoda.core.labels import LABELS_2022, LABELS_2023

__all__ = [
    "CleanLabels",
    "clean_labels",
    "dark_threshold",
    "fluid_like",
    "FLUID_PERCENTILE",
    "VS_MAX_COCHLEA_DISTANCE_MM",
    "largest_components",
    "one_component_per_side",
    "otsu_threshold",
    "refine_bright",
    "vs_component",
]

VS_MAX_COCHLEA_DISTANCE_MM = 12.0
"""A schwannoma grows from the vestibular nerve inside the internal auditory canal, whose fundus
abuts the cochlea: every real tumour, even a small intracanalicular one, reaches within about
10 mm of a cochlea, while false positives (fourth ventricle, cisterns) lie further away."""


def largest_components(mask: npt.NDArray[np.bool_], keep: int = 1) -> npt.NDArray[np.bool_]:
    """The ``keep`` largest 26-connected components of ``mask`` (same shape, bool)."""
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= keep:
        return mask.astype(bool)
    sizes = np.bincount(comp.ravel())[1:]
    top = np.argsort(sizes)[::-1][:keep] + 1
    return np.isin(comp, top)


def one_component_per_side(
    mask: npt.NDArray[np.bool_], side_of: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Keep the largest component on each side of the head.

    Args:
        mask: Boolean mask ``(z, y, x)``.
        side_of: Per-voxel signed lateral coordinate (e.g. world x minus the midline, mm), same
            shape or broadcastable; components are assigned to a side by the sign at their centroid.
    """
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= 1:
        return mask.astype(bool)
    side = np.broadcast_to(side_of, mask.shape)
    sizes = np.bincount(comp.ravel(), minlength=n + 1)
    lateral = np.bincount(comp.ravel(), weights=side.ravel(), minlength=n + 1) / np.maximum(sizes, 1)
    keep = []
    for sign in (-1.0, 1.0):
        ids = [i for i in range(1, n + 1) if np.sign(lateral[i]) == sign or (sign > 0 and lateral[i] == 0)]
        if ids:
            keep.append(max(ids, key=lambda i: sizes[i]))
    return np.isin(comp, keep)


def vs_component(
    mask: npt.NDArray[np.bool_],
    probability: npt.NDArray[np.floating],
    cochlea: npt.NDArray[np.bool_],
    spacing_mm: tuple[float, float, float],
    max_distance_mm: float = VS_MAX_COCHLEA_DISTANCE_MM,
) -> npt.NDArray[np.bool_]:
    """The one VS component: among the 26-connected components of ``mask`` that come within
    ``max_distance_mm`` of a ``cochlea`` voxel, the one of largest summed ``probability``; without a
    predicted cochlea, the largest component; none near a cochlea: an empty mask (no tumour).

    Args:
        mask: Boolean VS mask ``(z, y, x)``.
        probability: VS probability, same shape.
        cochlea: Boolean cochlea mask, same shape.
        spacing_mm: Voxel spacing in array order ``(z, y, x)``, mm.
        max_distance_mm: Largest allowed gap between the tumour and a cochlea, mm.
    """
    if not cochlea.any():
        return largest_components(mask, 1)
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return mask.astype(bool)
    dist = ndimage.distance_transform_edt(~cochlea, sampling=spacing_mm)
    near = ndimage.minimum(dist, comp, index=np.arange(1, n + 1))
    mass = ndimage.sum(probability, comp, index=np.arange(1, n + 1))
    ok = [i for i in range(n) if near[i] <= max_distance_mm]
    if not ok:
        return np.zeros(mask.shape, dtype=bool)
    best = max(ok, key=lambda i: mass[i]) + 1
    return np.asarray(comp == best)


def otsu_threshold(values: npt.NDArray[np.floating], bins: int = 128) -> float:
    """Otsu's threshold of a 1D sample of intensities (SimpleITK's histogram implementation)."""
    v = np.asarray(values, dtype=np.float32).ravel()
    if v.size < 2 or float(v.max()) <= float(v.min()):
        return float(v.max()) if v.size else 0.0
    f = sitk.OtsuThresholdImageFilter()
    f.SetNumberOfHistogramBins(bins)
    f.Execute(sitk.GetImageFromArray(v[None, :]))
    return float(f.GetThreshold())


def dark_threshold(image: npt.NDArray[np.floating], bins: int = 128) -> float:
    """The lower of the two Otsu thresholds (SimpleITK's multiple-threshold Otsu, three classes) of
    ``image``'s intensities: on T2, bone and air below it, soft tissue and fluid above."""
    v = np.asarray(image, dtype=np.float32)
    if v.size < 3 or float(v.max()) <= float(v.min()):
        return float(v.min()) if v.size else 0.0
    f = sitk.OtsuMultipleThresholdsImageFilter()
    f.SetNumberOfThresholds(2)
    f.SetNumberOfHistogramBins(bins)
    f.Execute(sitk.GetImageFromArray(v.reshape(1, 1, -1)))
    return float(f.GetThresholds()[0])


FLUID_PERCENTILE = 99.5
"""Percentile of the image's intensities taken as its fluid (CSF) level on T2."""


def fluid_like(
    image: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_], max_ratio: float
) -> bool:
    """Whether the predicted tumour ``mask`` (same shape as ``image``) is fluid rather than
    tumour on T2: the median of its intensities is above ``max_ratio`` times the fluid level of
    ``image`` (its :data:`FLUID_PERCENTILE` th percentile). A schwannoma is a grey filling defect
    in the bright CSF (median about 0.3-0.5 of the fluid level); a region as bright as fluid in
    the canal is CSF, a labyrinth or a post-operative resection cavity. A predominantly cystic
    tumour would also be fluid-like; ``max_ratio <= 0`` (off) or an empty mask: ``False``, with
    nothing computed."""
    if max_ratio <= 0 or not mask.any():
        return False
    img = np.asarray(image, dtype=np.float32)
    level = float(np.percentile(img, FLUID_PERCENTILE))
    return level > 0 and float(np.median(img[mask])) > max_ratio * level


def refine_bright(
    mask: npt.NDArray[np.bool_],
    image: npt.NDArray[np.floating],
    spacing_mm: tuple[float, float, float],
    grow_mm: float,
    context_mm: float,
) -> npt.NDArray[np.bool_]:
    """Snap each component of ``mask`` to the bright structure it sits on.

    Per 26-connected component: the threshold is Otsu's over ``image`` within ``context_mm`` of
    the component; the result is the voxels within ``grow_mm`` of it that are above the threshold
    and connected to a bright voxel of the component itself. A component with no bright voxel is
    kept as it was (nothing to snap to). Meant for fluid on hrT2 (the cochlea), not the tumour.

    Args:
        mask: Boolean mask ``(z, y, x)``.
        image: Intensities on the same grid (any scale).
        spacing_mm: Voxel spacing in array order ``(z, y, x)``, mm.
        grow_mm: Largest distance (mm) a refined component may reach beyond the original one.
        context_mm: Radius (mm) of the neighbourhood that sets the threshold.

    Returns:
        Refined boolean mask, same shape.
    """
    mask = np.asarray(mask, dtype=bool)
    if grow_mm <= 0 or not mask.any():
        return mask
    full = np.ones((3, 3, 3), dtype=bool)
    comp, n = ndimage.label(mask, structure=full)
    out = np.zeros(mask.shape, dtype=bool)
    pad = [int(np.ceil(max(grow_mm, context_mm) / s)) + 1 for s in spacing_mm]
    for i, box in enumerate(ndimage.find_objects(comp), start=1):
        if box is None:
            continue
        win = tuple(
            slice(max(b.start - p, 0), min(b.stop + p, dim))
            for b, p, dim in zip(box, pad, mask.shape, strict=True)
        )
        part = comp[win] == i
        img = np.asarray(image[win], dtype=np.float32)
        dist = ndimage.distance_transform_edt(~part, sampling=spacing_mm)
        bright = img > otsu_threshold(img[dist <= context_mm])
        cand = (dist <= grow_mm) & bright
        if not (cand & part).any():
            out[win] |= part
            continue
        lab, _ = ndimage.label(cand, structure=full)
        ids = np.unique(lab[cand & part])
        out[win] |= np.isin(lab, ids[ids > 0])
    return out


@dataclass
class CleanLabels:
    """Cleaned maps ``uint8 (z, y, x)``: ``labels`` in the model's label map (2022: 1 VS,
    2 cochlea; 2023: 1 extra-meatal VS, 2 intra-meatal VS, 3 cochlea), ``aux`` 0/1 brainstem/
    2 cerebellum (AUX_LABELS); a refined cochlea may overlap ``aux``. ``vs``: the whole tumour."""

    labels: npt.NDArray[np.uint8]
    aux: npt.NDArray[np.uint8]
    vs: npt.NDArray[np.bool_]
    label_map: str = LABELS_2022.name

    def combined(self) -> npt.NDArray[np.uint8]:
        """One map in the segmenter's classes (the label map's labels, then brainstem and
        cerebellum); VS and cochlea win over the auxiliary structures."""
        offset = len(MODEL_LABEL_MAPS[self.label_map].labels)
        out = np.where(self.aux > 0, self.aux + offset, 0).astype(np.uint8)
        out[self.labels > 0] = self.labels[self.labels > 0]
        return out


def clean_labels(
    probs: npt.NDArray[np.floating],
    spacing_mm: tuple[float, float, float],
    side_of: npt.NDArray[np.float64] | None = None,
    image: npt.NDArray[np.floating] | None = None,
    spec: PostprocessSpec | None = None,
    label_map: str = LABELS_2022.name,
) -> CleanLabels:
    """Clean class probabilities ``(C, z, y, x)`` (spacing ``(z, y, x)`` mm), ``C`` the segmenter
    classes of ``label_map`` (5 for ``crossmoda2022``, 6 for ``crossmoda2023``).

    Args:
        side_of: Signed lateral coordinate per voxel (broadcastable), which splits the cochleas
            into sides; ``None``: the x centre of the array (a crop centred on both canals).
        image: The hrT2 on the same grid; with ``spec.cochlea_refine_mm > 0`` each cochlea is
            snapped to its bright fluid (:func:`refine_bright`). ``None``: no refinement.
        spec: Post-processing settings (default :class:`PostprocessSpec`).
        label_map: The model's label map (:data:`~crossmoda.algorithm.model.spec.MODEL_LABEL_MAPS`).

    Raises:
        ValueError: ``probs`` does not have the label map's number of classes.
    """
    if label_map not in MODEL_LABEL_MAPS:
        raise ValueError(f"unknown model label map {label_map!r}; known: {sorted(MODEL_LABEL_MAPS)}")
    n_classes = len(MODEL_LABEL_MAPS[label_map].labels) + 3
    if probs.shape[0] != n_classes:
        raise ValueError(f"{label_map} needs {n_classes} class probabilities, got {probs.shape[0]}")
    spec = spec or PostprocessSpec()
    if label_map == LABELS_2023.name:
        return _clean_split(probs, spacing_mm, side_of, image, spec)
    if spec.tumour_exclude_dark and image is not None:
        probs = probs.copy()
        probs[1][np.asarray(image) < dark_threshold(image)] = 0.0
    arg = np.argmax(probs, axis=0)
    if side_of is None:
        x = np.arange(arg.shape[2], dtype=np.float64) - (arg.shape[2] - 1) / 2
        side_of = x[None, None, :]
    cochlea = one_component_per_side(arg == 2, side_of)
    if image is not None and spec.cochlea_refine_mm > 0:
        cochlea = refine_bright(cochlea, image, spacing_mm, spec.cochlea_refine_mm, spec.cochlea_context_mm)
    vs = vs_component(arg == 1, probs[1], cochlea, spacing_mm)
    if image is not None and fluid_like(image, vs, spec.tumour_max_fluid_ratio):
        vs = np.zeros(vs.shape, dtype=bool)
    brainstem = largest_components(arg == 3, 1)
    cerebellum = largest_components(arg == 4, 2)
    labels = np.zeros(arg.shape, dtype=np.uint8)
    aux = np.zeros(arg.shape, dtype=np.uint8)
    labels[cochlea] = 2
    labels[vs] = 1
    aux[brainstem] = 1
    aux[cerebellum & ~brainstem] = 2
    return CleanLabels(labels, aux, vs)


def _clean_split(
    probs: npt.NDArray[np.floating],
    spacing_mm: tuple[float, float, float],
    side_of: npt.NDArray[np.float64] | None,
    image: npt.NDArray[np.floating] | None,
    spec: PostprocessSpec,
) -> CleanLabels:
    """2023 classes (0 background, 1 extra-meatal, 2 intra-meatal, 3 cochlea, 4 brainstem,
    5 cerebellum): clean the whole tumour (1 + 2) as the 2022 VS, then split it by the larger of
    the two part probabilities; an extra-meatal part under ``spec.extra_meatal_min_mm3`` becomes
    intra-meatal."""
    merged = np.concatenate([probs[:1], probs[1:3].sum(axis=0, keepdims=True), probs[3:]])
    whole = clean_labels(merged, spacing_mm, side_of, image, spec)
    intra = probs[2] > probs[1]
    labels = np.zeros(whole.labels.shape, dtype=np.uint8)
    labels[whole.labels == 2] = 3
    labels[whole.vs & ~intra] = 1
    labels[whole.vs & intra] = 2
    min_mm3 = spec.extra_meatal_min_mm3
    if min_mm3 > 0 and (labels == 1).sum() * float(np.prod(spacing_mm)) < min_mm3:
        labels[labels == 1] = 2
    return CleanLabels(labels, whole.aux, whole.vs, LABELS_2023.name)
