"""Interpretable Koos features from label masks, spacing and (optionally) the hrT2 image.

Pure functions of boolean ``(z, y, x)`` arrays and ``spacing_mm`` in the same order. Distances use
scipy's exact Euclidean distance transform with ``sampling=spacing_mm``. Voxels are treated as
boxes: two masks *touch* when a voxel of one is a 26-neighbour of a voxel of the other, and
:func:`box_gap_mm` is the exact smallest distance between the two unions of voxel boxes.

:func:`compute_features` returns every feature in :data:`FEATURE_NAMES` order; the groups
:data:`GEOMETRY_FEATURES` and :data:`IMAGE_FEATURES` are the ablation's feature sets.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from crossmoda.algorithm.koos.anatomy import (
    CanalFrame,
    FrameConfig,
    Structures,
    estimate_frame,
    voxel_coords_mm,
)

__all__ = [
    "DISTANCE_CAP_MM",
    "GEOMETRY_FEATURES",
    "IMAGE_FEATURES",
    "FEATURE_NAMES",
    "volume_mm3",
    "box_gap_mm",
    "contact_area_mm2",
    "inscribed_radius_mm",
    "hull_indentation",
    "axis_features",
    "brainstem_features",
    "image_features",
    "compute_features",
]

BoolArray = npt.NDArray[np.bool_]
Spacing = tuple[float, float, float]
DISTANCE_CAP_MM = 40.0
"""Distances are capped here (and an absent structure counts as this far away)."""

GEOMETRY_FEATURES: tuple[str, ...] = (
    "vs_volume_mm3",
    "vs_inscribed_radius_mm",
    "vs_extent_beyond_porus_mm",
    "vs_extrameatal_volume_mm3",
    "vs_cpa_diameter_mm",
    "vs_medial_reach",
    "vs_midline_distance_mm",
    "vs_brainstem_gap_mm",
    "vs_brainstem_contact_mm2",
    "vs_brainstem_contact_1mm_mm2",
    "brainstem_shift_mm",
    "brainstem_halfwidth_diff_mm",
    "brainstem_asymmetry",
    "brainstem_indentation_mm",
    "brainstem_indented_volume_mm3",
)
IMAGE_FEATURES: tuple[str, ...] = (
    "img_vs_mean",
    "img_vs_std",
    "img_vs_p10",
    "img_vs_p90",
    "img_rim_mean",
    "img_rim_bright_fraction",
    "img_cleft_mean",
)
FEATURE_NAMES: tuple[str, ...] = GEOMETRY_FEATURES + IMAGE_FEATURES


def volume_mm3(mask: BoolArray, spacing_mm: Spacing) -> float:
    """Volume of ``mask`` in mm^3 (voxel count times voxel volume)."""
    return float(np.count_nonzero(mask)) * float(np.prod(spacing_mm))


def _edt_to(mask: BoolArray, spacing_mm: Spacing) -> npt.NDArray[np.float64]:
    """Distance (mm) from every voxel centre to the nearest voxel centre of ``mask`` (non-empty)."""
    return np.asarray(ndimage.distance_transform_edt(~mask, sampling=spacing_mm), dtype=np.float64)


def box_gap_mm(a: BoolArray, b: BoolArray, spacing_mm: Spacing, cap_mm: float = DISTANCE_CAP_MM) -> float:
    """Smallest distance (mm) between the voxel boxes of ``a`` and of ``b``; 0 on contact or overlap.

    Exact: dilating ``b`` by the 3x3x3 cube turns centre-to-centre distances into box-to-box
    distances (per axis, ``max(0, |di| - 1) * s_i``). Capped at ``cap_mm``; ``cap_mm`` when either
    mask is empty.
    """
    if not a.any() or not b.any():
        return cap_mm
    grown = ndimage.binary_dilation(b, structure=np.ones((3, 3, 3), dtype=bool))
    if (a & grown).any():
        return 0.0
    dist = _edt_to(grown, spacing_mm)
    return float(min(dist[a].min(), cap_mm))


def contact_area_mm2(a: BoolArray, b: BoolArray, spacing_mm: Spacing, tolerance_mm: float = 0.0) -> float:
    """Area (mm^2) of the boundary faces of ``a`` whose outside neighbour is within ``tolerance_mm``
    of ``b`` (centre to centre); with ``tolerance_mm=0`` the faces ``a`` shares with ``b``.

    Faces are the 6-connected voxel faces, each of area the product of the two other spacings.
    """
    if not a.any() or not b.any():
        return 0.0
    near = b if tolerance_mm <= 0 else _edt_to(b, spacing_mm) <= tolerance_mm
    a_pad = np.pad(a, 1)
    near_pad = np.pad(near, 1)
    sp = np.asarray(spacing_mm, dtype=np.float64)
    total = 0.0
    core = (slice(1, -1),) * 3
    for axis in range(3):
        face = float(np.prod(np.delete(sp, axis)))
        for step in (-1, 1):
            shifted_a = np.roll(a_pad, -step, axis=axis)[core]
            shifted_near = np.roll(near_pad, -step, axis=axis)[core]
            total += face * float(np.count_nonzero(a & ~shifted_a & shifted_near))
    return total


def inscribed_radius_mm(mask: BoolArray, spacing_mm: Spacing) -> float:
    """Largest distance (mm) from a voxel centre of ``mask`` to the nearest centre outside it.

    A canal-confined tumour cannot be thicker than the canal, so this separates grade I.
    """
    if not mask.any():
        return 0.0
    dist = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing_mm)
    return float(np.max(dist))


def hull_indentation(vs: BoolArray, brainstem: BoolArray, spacing_mm: Spacing) -> tuple[float, float]:
    """How far the VS sits inside the brainstem's convex hull: (max depth mm, volume mm^3).

    A tumour that compresses the brainstem dents it, so VS voxels fall inside the hull of the
    brainstem's voxel centres; depth is the distance to the nearest hull facet plane.
    """
    if not vs.any() or np.count_nonzero(brainstem) < 4:
        return 0.0, 0.0
    edge = brainstem & ~ndimage.binary_erosion(brainstem)
    try:
        hull = ConvexHull(voxel_coords_mm(edge, spacing_mm))
    except (QhullError, ValueError):
        return 0.0, 0.0
    pts = voxel_coords_mm(vs, spacing_mm)
    normals, offsets = hull.equations[:, :3], hull.equations[:, 3]
    chunks = np.array_split(pts, max(1, len(pts) // 4096))
    signed = np.concatenate([np.max(c @ normals.T + offsets, axis=1) for c in chunks])
    inside = signed < 0
    if not inside.any():
        return 0.0, 0.0
    return float(-signed[inside].min()), float(np.count_nonzero(inside)) * float(np.prod(spacing_mm))


def axis_features(vs: BoolArray, frame: CanalFrame, spacing_mm: Spacing) -> dict[str, float]:
    """VS extent along the estimated canal axis and towards the midline.

    Returns ``vs_extent_beyond_porus_mm`` (max of (v - porus) . axis over VS voxel centres; signed,
    negative when the tumour stays lateral of the porus), ``vs_extrameatal_volume_mm3`` (VS beyond
    the porus plane), ``vs_cpa_diameter_mm`` (equivalent-sphere diameter of that part),
    ``vs_midline_distance_mm`` (most medial VS point to the midsagittal plane) and
    ``vs_medial_reach`` (1 - that distance / the ipsilateral cochlea's distance to the plane:
    0 at the cochlea, 1 at the midline).
    """
    pts = voxel_coords_mm(vs, spacing_mm)
    if len(pts) == 0:
        return {"vs_extent_beyond_porus_mm": -DISTANCE_CAP_MM, "vs_extrameatal_volume_mm3": 0.0,
                "vs_cpa_diameter_mm": 0.0, "vs_midline_distance_mm": DISTANCE_CAP_MM, "vs_medial_reach": 0.0}
    proj = (pts - frame.porus) @ frame.axis
    extra = float(np.count_nonzero(proj > 0)) * float(np.prod(spacing_mm))
    lateral_pos = (pts - frame.midline_point) @ frame.lateral
    midline_distance = float(lateral_pos.min())
    reference = (
        float((frame.cochlea - frame.midline_point) @ frame.lateral)
        if frame.cochlea is not None else float(lateral_pos.max())
    )
    reach = 1.0 - midline_distance / reference if reference > 1e-6 else 0.0
    return {
        "vs_extent_beyond_porus_mm": float(proj.max()),
        "vs_extrameatal_volume_mm3": extra,
        "vs_cpa_diameter_mm": float(2.0 * (3.0 * extra / (4.0 * np.pi)) ** (1.0 / 3.0)),
        "vs_midline_distance_mm": midline_distance,
        "vs_medial_reach": float(reach),
    }


def brainstem_features(structures: Structures, frame: CanalFrame, spacing_mm: Spacing) -> dict[str, float]:
    """Brainstem displacement and asymmetry about the midsagittal plane, in the VS's slices.

    Over brainstem voxels in the array-z slices the VS spans (all slices when the VS is empty):
    ``brainstem_shift_mm``, the centroid's offset from the plane away from the tumour;
    ``brainstem_halfwidth_diff_mm``, the largest per-slice excess of the contralateral over the
    ipsilateral half-width; ``brainstem_asymmetry``, (contralateral - ipsilateral) / total volume.
    """
    bs = structures.brainstem
    zs = np.flatnonzero(structures.vs.any(axis=(1, 2)))
    zero = {"brainstem_shift_mm": 0.0, "brainstem_halfwidth_diff_mm": 0.0, "brainstem_asymmetry": 0.0}
    if len(zs):
        band = np.zeros_like(bs)
        band[zs.min() : zs.max() + 1] = True
        bs = bs & band
    if not bs.any():
        return zero
    idx = np.argwhere(bs)
    side = (idx.astype(np.float64) * np.asarray(spacing_mm) - frame.midline_point) @ frame.lateral
    n_ipsi, n_contra = int(np.count_nonzero(side > 0)), int(np.count_nonzero(side < 0))
    diffs = []
    for z in np.unique(idx[:, 0]):
        s = side[idx[:, 0] == z]
        diffs.append(float(max(-s.min(), 0.0) - max(s.max(), 0.0)))
    return {
        "brainstem_shift_mm": float(-side.mean()),
        "brainstem_halfwidth_diff_mm": float(max(diffs)),
        "brainstem_asymmetry": float((n_contra - n_ipsi) / max(n_contra + n_ipsi, 1)),
    }


def image_features(
    image: npt.NDArray[np.floating] | npt.NDArray[np.integer], structures: Structures, spacing_mm: Spacing,
    margin_mm: float = 1.0, rim_mm: float = 1.5,
) -> dict[str, float]:
    """Normalised intensity statistics in and around the VS (hrT2: CSF bright, tumour darker).

    Intensities are mapped so that the brainstem median is 0 and the image's 99th percentile is 1
    (the grid median when there is no brainstem). Statistics stay ``margin_mm`` clear of the VS
    boundary, so a one-voxel segmentation error barely moves them: the core is the VS more than
    ``margin_mm`` inside (the whole VS when that is empty); the rim the non-VS voxels between
    ``margin_mm`` and ``margin_mm + rim_mm`` outside; the cleft the part of the rim within 2 mm of
    the brainstem (the CSF cleft of a grade II tumour), the whole rim when there is none.
    """
    img = np.asarray(image, dtype=np.float64)
    names = IMAGE_FEATURES
    if not structures.vs.any():
        return dict.fromkeys(names, 0.0)
    low = float(np.median(img[structures.brainstem])) if structures.brainstem.any() else float(np.median(img))
    high = float(np.percentile(img, 99))
    scale = high - low if high - low > 1e-6 else 1.0
    norm = (img - low) / scale
    depth = ndimage.distance_transform_edt(np.pad(structures.vs, 1), sampling=spacing_mm)[1:-1, 1:-1, 1:-1]
    core = structures.vs & (depth > margin_mm)
    inside = norm[core] if core.any() else norm[structures.vs]
    outside = _edt_to(structures.vs, spacing_mm)
    rim_mask = (outside > margin_mm) & (outside <= margin_mm + rim_mm)
    rim = norm[rim_mask] if rim_mask.any() else inside
    if structures.brainstem.any():
        cleft_mask = rim_mask & (_edt_to(structures.brainstem, spacing_mm) <= 2.0)
        cleft = norm[cleft_mask] if cleft_mask.any() else rim
    else:
        cleft = rim
    return {
        "img_vs_mean": float(inside.mean()),
        "img_vs_std": float(inside.std()),
        "img_vs_p10": float(np.percentile(inside, 10)),
        "img_vs_p90": float(np.percentile(inside, 90)),
        "img_rim_mean": float(rim.mean()),
        "img_rim_bright_fraction": float(np.mean(rim > 0.5)),
        "img_cleft_mean": float(cleft.mean()),
    }


def _crop_box(structures: Structures, spacing_mm: Spacing, margin_mm: float) -> tuple[slice, ...]:
    """Bounding box of all structures, grown by ``margin_mm`` (whole grid when all are empty)."""
    union = structures.vs | structures.cochlea | structures.brainstem
    if not union.any():
        return tuple(slice(0, n) for n in union.shape)
    idx = np.argwhere(union)
    pad = np.ceil(margin_mm / np.asarray(spacing_mm)).astype(int)
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, union.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def compute_features(
    structures: Structures, spacing_mm: Spacing,
    image: npt.NDArray[np.floating] | npt.NDArray[np.integer] | None = None,
    frame_config: FrameConfig | None = None,
) -> tuple[dict[str, float], CanalFrame]:
    """All features of one case (in :data:`FEATURE_NAMES` order) and the estimated frame.

    Work is restricted to the bounding box of VS, cochleas and brainstem plus 10 mm, so a full
    field of view costs little more than a crop. Without ``image`` the image features are 0.
    The returned frame's points are in the voxel-mm frame of the whole grid.
    """
    sp = tuple(float(s) for s in spacing_mm)
    spacing: Spacing = (sp[0], sp[1], sp[2])
    box = _crop_box(structures, spacing, margin_mm=10.0)
    s = Structures(*(np.ascontiguousarray(m[box]) for m in
                     (structures.vs, structures.cochlea, structures.brainstem, structures.cerebellum)))
    frame = estimate_frame(s, spacing, frame_config)
    depth, dented = hull_indentation(s.vs, s.brainstem, spacing)
    feats: dict[str, float] = {
        "vs_volume_mm3": volume_mm3(s.vs, spacing),
        "vs_inscribed_radius_mm": inscribed_radius_mm(s.vs, spacing),
        **axis_features(s.vs, frame, spacing),
        "vs_brainstem_gap_mm": box_gap_mm(s.vs, s.brainstem, spacing),
        "vs_brainstem_contact_mm2": contact_area_mm2(s.vs, s.brainstem, spacing),
        "vs_brainstem_contact_1mm_mm2": contact_area_mm2(s.vs, s.brainstem, spacing, tolerance_mm=1.0),
        **brainstem_features(s, frame, spacing),
        "brainstem_indentation_mm": depth,
        "brainstem_indented_volume_mm3": dented,
    }
    if image is not None:
        img = np.asarray(image)
        if img.shape != structures.vs.shape:
            raise ValueError(f"image shape {img.shape} != label shape {structures.vs.shape}")
        feats.update(image_features(img[box], s, spacing))
    else:
        feats.update(dict.fromkeys(IMAGE_FEATURES, 0.0))
    shift = np.array([b.start for b in box], dtype=np.float64) * np.asarray(spacing)
    whole = replace(frame, midline_point=frame.midline_point + shift, porus=frame.porus + shift,
                    cochlea=None if frame.cochlea is None else frame.cochlea + shift)
    return {name: float(feats[name]) for name in FEATURE_NAMES}, whole
