"""Render a case's anatomy onto an output lattice: tissue classes, both contrasts, labels.

Each output slice is the mean of ``ns`` sub-slices (``ns = round(slice / 0.5 mm)``), a boxcar
slice profile applied before downsampling; labels take the sub-slice majority. With a slice gap
(2D acquisitions) only the sub-slices inside the slice thickness count. The tumour is split at the
plane of the porus, normal to the canal axis: the part lateral of it and inside the canal is
intra-meatal, the rest extra-meatal (:attr:`Rendered.extrameatal`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crossmoda.phantom import contrast as C
from crossmoda.phantom.anatomy import Anatomy, Ear
from crossmoda.phantom.geometry import Lattice, sample_distance, sample_templates
from crossmoda.phantom.shapes import Shape
from crossmoda.phantom.templates import BRAINSTEM, CEREBELLUM, OUTSIDE, Templates

__all__ = ["Rendered", "render", "render_full", "subslices", "slab", "detail_box"]

F32 = npt.NDArray[np.float32]
SUBSLICE_MM = 0.5


@dataclass
class Rendered:
    """Output-resolution arrays ``(nz, ny, nx)`` before bias, noise and scaling.

    ``label`` is 1 VS, 2 cochlea; ``extrameatal`` marks the VS voxels medial of the porus plane
    or outside the canal (the majority of their VS sub-slices).
    """

    images: dict[str, F32]
    label: npt.NDArray[np.uint8]
    aux: npt.NDArray[np.uint8]
    tissue: npt.NDArray[np.uint8]
    volumes: dict[str, float]
    extrameatal: npt.NDArray[np.bool_]


def subslices(lattice: Lattice, ns: int | None = None) -> tuple[Lattice, int]:
    """The evaluation lattice with ``ns`` sub-slices per slice (default: 0.5 mm apart), and ``ns``."""
    thick = float(np.linalg.norm(lattice.steps[0]))
    if ns is None:
        ns = max(1, int(round(thick / SUBSLICE_MM)))
    steps = lattice.steps.copy()
    steps[0] = steps[0] / ns
    origin = lattice.origin - steps[0] * (ns - 1) / 2.0
    shape = (lattice.shape[0] * ns, lattice.shape[1], lattice.shape[2])
    return Lattice(shape=shape, origin=origin, steps=steps), ns


def slab(lattice: Lattice, ns: int, thickness_mm: float | None) -> slice | None:
    """The sub-slices of each group of ``ns`` that lie inside a slice of ``thickness_mm``, centred
    (``None``: all of them, no gap)."""
    spacing = float(np.linalg.norm(lattice.steps[0]))
    if thickness_mm is None or thickness_mm >= spacing - 1e-6 or ns == 1:
        return None
    nk = min(ns, max(1, int(round(thickness_mm / (spacing / ns)))))
    k0 = (ns - nk) // 2
    return slice(k0, k0 + nk)


def _box(lattice: Lattice, shape: Shape, pad: float = 1.0) -> tuple[slice, slice, slice] | None:
    lo, hi = shape.bbox()
    corners = np.array(
        [
            [x, y, z]
            for x in (lo[0] - pad, hi[0] + pad)
            for y in (lo[1] - pad, hi[1] + pad)
            for z in (lo[2] - pad, hi[2] + pad)
        ]
    )
    idx = lattice.index_of(corners)
    i0 = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)
    i1 = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(lattice.shape))
    if np.any(i1 <= i0):
        return None
    return (slice(int(i0[0]), int(i1[0])), slice(int(i0[1]), int(i1[1])), slice(int(i0[2]), int(i1[2])))


def _paint(
    cls: npt.NDArray[np.uint8],
    lattice: Lattice,
    shape: Shape,
    value: int,
    where: tuple[int, ...] | None = None,
) -> tuple[tuple[slice, slice, slice], npt.NDArray[np.bool_]] | None:
    """Set ``cls`` to ``value`` inside ``shape`` (only over classes ``where``); return box and mask."""
    sl = _box(lattice, shape)
    if sl is None:
        return None
    sub_lat = lattice.sub((sl[0].start, sl[1].start, sl[2].start), cls[sl].shape)  # type: ignore[arg-type]
    inside = shape.inside(sub_lat.coords())
    sub = cls[sl]
    if where is not None:
        inside &= np.isin(sub, where)
    sub[inside] = value
    return sl, inside


def _points(lattice: Lattice, mask: npt.NDArray[np.bool_]) -> F32:
    """Case RAS coordinates ``(3, N)`` of the lattice points where ``mask`` is true."""
    idx = np.nonzero(mask)
    pts = np.empty((3, idx[0].size), dtype=np.float32)
    for c in range(3):
        pts[c] = lattice.origin[c] + sum(idx[a] * lattice.steps[a, c] for a in range(3))
    return pts


def _z_coordinate(lattice: Lattice) -> F32:
    """Case RAS z of every lattice point (separable)."""
    n = [lattice.axis_values(a) for a in range(3)]
    st = lattice.steps[:, 2]
    return np.asarray(
        (lattice.origin[2] + n[0] * st[0]).astype(np.float32)[:, None, None]
        + (n[1] * st[1]).astype(np.float32)[None, :, None]
        + (n[2] * st[2]).astype(np.float32)[None, None, :]
    )


def _classify(t1: F32, code: npt.NDArray[np.uint8], d: F32, z: F32, csf_mm: float) -> npt.NDArray[np.uint8]:
    cls = np.full(t1.shape, C.GM, dtype=np.uint8)
    cls[t1 < C.CSF_T_MAX] = C.CSF
    cls[t1 > C.WM_T_MIN] = C.WM
    out = code >= OUTSIDE
    base = np.clip((-22.0 - z) / 15.0, 0.0, 1.0)
    bone_end = csf_mm + 5.5 + 10.0 * base
    fat_start = bone_end + 3.0 + 12.0 * base
    soft_end = fat_start + 4.0
    cls[out] = C.AIR
    cls[out & (d < soft_end)] = C.FAT
    cls[out & (d < fat_start)] = C.SOFT
    cls[out & (d < bone_end)] = C.BONE
    cls[out & (d < csf_mm)] = C.CSF
    return cls


def render(
    rng: np.random.Generator,
    lattice: Lattice,
    anatomy: Anatomy,
    contrasts: dict[str, C.Contrast],
    tpl: Templates,
    ns: int | None = None,
    thickness_mm: float | None = None,
) -> Rendered:
    """Render ``anatomy`` on ``lattice`` (output grid) for every contrast in ``contrasts``;
    ``thickness_mm`` below the slice spacing leaves a gap between slices."""
    ev, ns = subslices(lattice, ns)
    inslab = slab(lattice, ns, thickness_mm)
    tidx = anatomy.deformation.template_indices(ev, tpl.ras_to_index)
    t1, code = sample_templates(tpl, tidx)
    dist = sample_distance(tpl, tidx)
    del tidx
    cls = _classify(t1, code, dist, _z_coordinate(ev), anatomy.csf_mm)
    del dist
    soft = (C.BONE, C.SOFT, C.FAT, C.CSF, C.AIR)
    right = np.zeros(cls.shape, dtype=bool)
    # The otic capsule first (canal, labyrinth and cochlea cut through it), also where the warped
    # template puts cerebrum next to the cochlea; the brainstem and cerebellum keep their tissue.
    before = cls.copy()
    for ear in anatomy.ears:
        _paint(cls, ev, ear.otic_capsule, C.BONE, where=(*soft, C.GM, C.WM))
    keep = (code == BRAINSTEM) | (code == CEREBELLUM)
    cls[keep] = before[keep]
    del before, keep
    for ear in anatomy.ears:
        _paint(cls, ev, ear.canal, C.CSF, where=soft)
        for nerve in ear.nerves:
            _paint(cls, ev, nerve, C.NERVE, where=(C.CSF,))
        _paint(cls, ev, ear.labyrinth, C.LABYRINTH, where=soft)
        painted = _paint(cls, ev, ear.cochlea, C.COCHLEA)
        if painted is not None and ear.side > 0:
            right[painted[0]] |= painted[1]
    non_inner = tuple(v for v in C.TISSUES if v not in (C.COCHLEA, C.LABYRINTH))
    if anatomy.tumour is not None:
        _paint(cls, ev, anatomy.tumour.shape, C.VS, where=non_inner)
        if anatomy.tumour.cysts is not None:
            _paint(cls, ev, anatomy.tumour.cysts, C.CYST, where=(C.VS,))
    if anatomy.cavity is not None:
        _paint(cls, ev, anatomy.cavity.shape, C.CAVITY, where=non_inner)
    brain = (code < OUTSIDE) & ((cls == C.CSF) | (cls == C.GM) | (cls == C.WM))
    t_brain = t1[brain]
    vs = (cls == C.VS) | (cls == C.CYST)
    tex = pts = None
    if vs.any() and anatomy.tumour is not None:
        pts = _points(ev, vs)
        tex = _texture(rng, pts, anatomy.tumour.main_center, anatomy.tumour.texture)
    images: dict[str, F32] = {}
    for m, con in contrasts.items():
        img = con.lut[cls]
        img[brain] = con.brain(t_brain)
        if tex is not None:
            img[vs] *= tex.astype(np.float32)
        images[m] = _mean(img, ns, inslab)
    coch = cls == C.COCHLEA
    stem = (code == BRAINSTEM) & ~vs
    cereb = (code == CEREBELLUM) & ~vs
    label = np.zeros(lattice.shape, dtype=np.uint8)
    label[_majority(coch, ns, inslab)] = 2
    label[_visible(vs, ns, inslab)] = 1
    aux = np.zeros(lattice.shape, dtype=np.uint8)
    aux[_majority(stem, ns, inslab)] = 1
    aux[_majority(cereb, ns, inslab)] = 2
    aux[label == 1] = 0
    extra = np.zeros(lattice.shape, dtype=bool)
    if pts is not None:
        extra = _extrameatal(vs, pts, anatomy.lesion_ear, ns, inslab) & (label == 1)
    voxel = float(np.prod(np.linalg.norm(lattice.steps, axis=1)))
    coch_r = _majority(coch & right, ns, inslab) & (label == 2)
    volumes = {
        "vs": float(np.count_nonzero(label == 1)) * voxel,
        "cochlea_right": float(np.count_nonzero(coch_r)) * voxel,
        "cochlea_left": float(np.count_nonzero((label == 2) & ~coch_r)) * voxel,
        "brainstem_in_grid": float(np.count_nonzero(aux == 1)) * voxel,
    }
    tissue = np.ascontiguousarray(cls[ns // 2 :: ns])
    return Rendered(images=images, label=label, aux=aux, tissue=tissue, volumes=volumes, extrameatal=extra)


def _extrameatal(
    vs: npt.NDArray[np.bool_], pts: F32, ear: Ear, ns: int, keep: slice | None
) -> npt.NDArray[np.bool_]:
    """Output voxels where more VS sub-slices are extra-meatal than intra-meatal (a tie is
    intra-meatal); ``pts`` are the case coordinates of the ``vs`` sub-slice points."""
    intra = (ear.canal.along(pts) >= 0.0) & ear.canal.inside(pts)
    vote = np.zeros(vs.shape, dtype=np.int8)
    vote[vs] = np.where(intra, -1, 1).astype(np.int8)
    return np.asarray(_mean(vote, ns, keep) > 0.0)


def _texture(rng: np.random.Generator, pts: F32, center: npt.NDArray[np.float64], amplitude: float) -> F32:
    """Smooth heterogeneity ``1 + amplitude * sum of 5 signed Gaussian bumps`` at points ``(3, N)``."""
    tex = np.ones(pts.shape[1], dtype=np.float32)
    for _ in range(5):
        c = center + rng.normal(0.0, 4.0, 3)
        s2 = 2.0 * float(rng.uniform(2.0, 5.0)) ** 2
        r2 = sum((pts[k] - np.float32(c[k])) ** 2 for k in range(3))
        tex += np.float32(amplitude * rng.uniform(-1.0, 1.0)) * np.exp(-r2 / np.float32(s2))
    return tex


def _majority(mask: npt.NDArray[np.bool_], ns: int, keep: slice | None = None) -> npt.NDArray[np.bool_]:
    """Per output voxel: more than half of its ``ns`` sub-slices (those in ``keep``) in ``mask``; a
    tie (even count) goes to the middle sub-slice (unbiased volume, unlike ``>= 0.5``)."""
    if ns == 1:
        return mask
    frac = _mean(mask, ns, keep)
    mid = ns // 2 if keep is None else keep.start + (keep.stop - keep.start) // 2
    tie = (frac == 0.5) & mask[mid::ns]
    return np.asarray((frac > 0.5) | tie)


def _visible(mask: npt.NDArray[np.bool_], ns: int, keep: slice | None) -> npt.NDArray[np.bool_]:
    """:func:`_majority`, except on thick slices (``ns >= 4``, 2 mm or more) where a structure
    that no voxel covers by more than half keeps its best-covered voxels (as an annotator marks
    a small tumour on the slice where it shows), so a present tumour never vanishes."""
    out = _majority(mask, ns, keep)
    if ns < 4 or out.any() or not mask.any():
        return out
    frac = _mean(mask, ns, keep)
    best = float(frac.max())
    return np.asarray(frac >= best) if best > 0.0 else out


def _mean(a: npt.NDArray[np.generic], ns: int, keep: slice | None = None) -> F32:
    """Mean over each slice's ``ns`` sub-slices (only those in ``keep`` when given)."""
    if ns == 1:
        return np.asarray(a, dtype=np.float32)
    s = a.reshape(a.shape[0] // ns, ns, *a.shape[1:])
    if keep is not None:
        s = s[:, keep]
    return np.asarray(s.mean(axis=1, dtype=np.float32), dtype=np.float32)


def detail_box(
    lattice: Lattice, center: npt.ArrayLike, extent_mm: tuple[float, float, float]
) -> tuple[slice, slice, slice]:
    """Index box of ``lattice`` covering the case-space box ``center +- extent/2`` (x, y, z mm)."""
    c = np.asarray(center, dtype=np.float64)
    half = np.asarray(extent_mm, dtype=np.float64) / 2.0
    corners = np.array(
        [c + half * np.array([sx, sy, sz]) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    )
    idx = lattice.index_of(corners)
    i0 = np.clip(np.floor(idx.min(axis=0)).astype(int), 0, np.array(lattice.shape) - 1)
    i1 = np.clip(np.ceil(idx.max(axis=0)).astype(int) + 1, i0 + 1, np.array(lattice.shape))
    return (slice(int(i0[0]), int(i1[0])), slice(int(i0[1]), int(i1[1])), slice(int(i0[2]), int(i1[2])))


def _upsample(
    a: npt.NDArray[np.generic], factors: tuple[int, int, int], shape: tuple[int, int, int], linear: bool
) -> npt.NDArray[np.generic]:
    """Separable upsampling of a coarse array whose sample ``n`` sits at fine index ``n * factor``."""
    out = a
    for axis in range(3):
        pos = np.arange(shape[axis], dtype=np.float64) / factors[axis]
        if not linear:
            idx = np.clip(np.rint(pos).astype(np.intp), 0, out.shape[axis] - 1)
            out = np.take(out, idx, axis=axis)
            continue
        i0 = np.clip(np.floor(pos).astype(np.intp), 0, out.shape[axis] - 1)
        i1 = np.minimum(i0 + 1, out.shape[axis] - 1)
        w = (pos - i0).astype(np.float32)
        bshape = [1, 1, 1]
        bshape[axis] = -1
        w = w.reshape(bshape)
        lo = np.take(out, i0, axis=axis)
        hi = np.take(out, i1, axis=axis)
        lo *= 1.0 - w
        hi *= w
        lo += hi
        out = lo
    return out


def render_full(
    rng: np.random.Generator,
    lattice: Lattice,
    anatomy: Anatomy,
    contrasts: dict[str, C.Contrast],
    tpl: Templates,
    extent_mm: tuple[float, float, float],
    coarse_mm: float = 1.6,
    thickness_mm: float | None = None,
) -> Rendered:
    """Whole field of view: the head at ``coarse_mm`` (upsampled linearly; labels nearest) with the
    ``extent_mm`` box around the canals rendered at full resolution and pasted in."""
    sp = np.linalg.norm(lattice.steps, axis=1)
    factors = (
        max(1, int(round(coarse_mm / sp[0]))),
        max(1, int(round(coarse_mm / sp[1]))),
        max(1, int(round(coarse_mm / sp[2]))),
    )
    cshape = (
        lattice.shape[0] // factors[0] + 2,
        lattice.shape[1] // factors[1] + 2,
        lattice.shape[2] // factors[2] + 2,
    )
    coarse_lat = Lattice(
        shape=cshape, origin=lattice.origin, steps=lattice.steps * np.array(factors)[:, None]
    )
    coarse = render(rng, coarse_lat, anatomy, contrasts, tpl, ns=1)
    shape = lattice.shape
    images = {
        m: np.asarray(_upsample(v, factors, shape, True), dtype=np.float32) for m, v in coarse.images.items()
    }
    label = np.zeros(shape, dtype=np.uint8)
    aux = np.asarray(_upsample(coarse.aux, factors, shape, False), dtype=np.uint8)
    tissue = np.asarray(_upsample(coarse.tissue, factors, shape, False), dtype=np.uint8)
    box = detail_box(lattice, anatomy.center, extent_mm)
    start = (box[0].start, box[1].start, box[2].start)
    sub_shape = (box[0].stop - box[0].start, box[1].stop - box[1].start, box[2].stop - box[2].start)
    detail = render(rng, lattice.sub(start, sub_shape), anatomy, contrasts, tpl, thickness_mm=thickness_mm)
    for m in images:
        images[m][box] = detail.images[m]
    label[box] = detail.label
    extra = np.zeros(shape, dtype=bool)
    extra[box] = detail.extrameatal
    aux[box] = detail.aux
    tissue[box] = detail.tissue
    voxel = float(np.prod(sp))
    volumes = dict(detail.volumes)
    volumes["brainstem_in_grid"] = float(np.count_nonzero(aux == 1)) * voxel
    return Rendered(images=images, label=label, aux=aux, tissue=tissue, volumes=volumes, extrameatal=extra)
