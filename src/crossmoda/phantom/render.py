"""Render a case's anatomy onto an output lattice: tissue classes, both contrasts, labels.

Each output slice is the mean of ``ns`` sub-slices (``ns = round(slice / 0.5 mm)``), a boxcar
slice profile applied before downsampling; labels take the sub-slice majority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from crossmoda.phantom import contrast as C
from crossmoda.phantom.geometry import Lattice, sample_templates
from crossmoda.phantom.shapes import Shape
from crossmoda.phantom.templates import BRAINSTEM, CEREBELLUM, DIST_STEP_MM, OUTSIDE, Templates

if TYPE_CHECKING:
    from crossmoda.phantom.case import Anatomy

__all__ = ["Rendered", "render", "subslices"]

F32 = npt.NDArray[np.float32]
SUBSLICE_MM = 0.5


@dataclass
class Rendered:
    """Output-resolution arrays ``(nz, ny, nx)`` before bias, noise and scaling."""

    images: dict[str, F32]
    label: npt.NDArray[np.uint8]
    aux: npt.NDArray[np.uint8]
    tissue: npt.NDArray[np.uint8]
    volumes: dict[str, float]


def subslices(lattice: Lattice) -> tuple[Lattice, int]:
    """The evaluation lattice with ``ns`` sub-slices per slice, and ``ns``."""
    thick = float(np.linalg.norm(lattice.steps[0]))
    ns = max(1, int(round(thick / SUBSLICE_MM)))
    steps = lattice.steps.copy()
    steps[0] = steps[0] / ns
    origin = lattice.origin - steps[0] * (ns - 1) / 2.0
    shape = (lattice.shape[0] * ns, lattice.shape[1], lattice.shape[2])
    return Lattice(shape=shape, origin=origin, steps=steps), ns


def _box(lattice: Lattice, shape: Shape, pad: float = 1.0) -> tuple[slice, slice, slice] | None:
    lo, hi = shape.bbox()
    corners = np.array([[x, y, z] for x in (lo[0] - pad, hi[0] + pad) for y in (lo[1] - pad, hi[1] + pad)
                        for z in (lo[2] - pad, hi[2] + pad)])
    idx = lattice.index_of(corners)
    i0 = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)
    i1 = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(lattice.shape))
    if np.any(i1 <= i0):
        return None
    return (slice(int(i0[0]), int(i1[0])), slice(int(i0[1]), int(i1[1])), slice(int(i0[2]), int(i1[2])))


def _paint(cls: npt.NDArray[np.uint8], x: F32, lattice: Lattice, shape: Shape, value: int,
           where: tuple[int, ...] | None = None) -> None:
    sl = _box(lattice, shape)
    if sl is None:
        return
    inside = shape.inside(x[(slice(None), *sl)])
    sub = cls[sl]
    if where is not None:
        inside &= np.isin(sub, where)
    sub[inside] = value


def _classify(t1: F32, code: npt.NDArray[np.uint8], z: F32, csf_mm: float) -> npt.NDArray[np.uint8]:
    cls = np.full(t1.shape, C.GM, dtype=np.uint8)
    cls[t1 < C.CSF_T_MAX] = C.CSF
    cls[t1 > C.WM_T_MIN] = C.WM
    out = code >= OUTSIDE
    d = (code.astype(np.float32) - OUTSIDE) * DIST_STEP_MM
    base = np.clip((-22.0 - z) / 15.0, 0.0, 1.0)
    bone_end = csf_mm + 6.0 + 16.0 * base
    soft_end = bone_end + 7.0 + 35.0 * base
    cls[out] = C.AIR
    cls[out & (d < soft_end)] = C.SOFT
    cls[out & (d < bone_end)] = C.BONE
    cls[out & (d < csf_mm)] = C.CSF
    return cls


def render(rng: np.random.Generator, lattice: Lattice, anatomy: Anatomy, contrasts: dict[str, C.Contrast],
           tpl: Templates) -> Rendered:
    """Render ``anatomy`` on ``lattice`` (output grid) for every contrast in ``contrasts``."""
    ev, ns = subslices(lattice)
    x = ev.coords()
    t1, code = sample_templates(tpl, anatomy.deformation.apply_lattice(ev))
    cls = _classify(t1, code, x[2], anatomy.csf_mm)
    soft = (C.BONE, C.SOFT, C.CSF, C.AIR)
    for ear in anatomy.ears:
        _paint(cls, x, ev, ear.canal, C.CSF, where=soft)
        for nerve in ear.nerves:
            _paint(cls, x, ev, nerve, C.NERVE, where=(C.CSF,))
        _paint(cls, x, ev, ear.labyrinth, C.LABYRINTH, where=soft)
        _paint(cls, x, ev, ear.cochlea, C.COCHLEA)
    non_inner = tuple(v for v in C.TISSUES if v not in (C.COCHLEA, C.LABYRINTH))
    if anatomy.tumour is not None:
        _paint(cls, x, ev, anatomy.tumour.shape, C.VS, where=non_inner)
        if anatomy.tumour.cysts is not None:
            _paint(cls, x, ev, anatomy.tumour.cysts, C.CYST, where=(C.VS,))
    if anatomy.cavity is not None:
        _paint(cls, x, ev, anatomy.cavity.shape, C.CAVITY, where=non_inner)
    brain = (code < OUTSIDE) & ((cls == C.CSF) | (cls == C.GM) | (cls == C.WM))
    t_brain = t1[brain]
    vs = (cls == C.VS) | (cls == C.CYST)
    tex = None
    if vs.any():
        w = rng.normal(0.0, 0.6, 3)
        tex = 1.0 + 0.1 * np.sin(w[0] * x[0][vs] + w[1] * x[1][vs] + w[2] * x[2][vs] + rng.uniform(0, 6))
    images: dict[str, F32] = {}
    for m, con in contrasts.items():
        img = con.lut[cls]
        img[brain] = con.brain(t_brain)
        if tex is not None:
            img[vs] *= tex.astype(np.float32)
        images[m] = _mean(img, ns)
    coch = cls == C.COCHLEA
    right = x[0] > 0
    stem = (code == BRAINSTEM) & ~vs
    cereb = (code == CEREBELLUM) & ~vs
    label = np.zeros(lattice.shape, dtype=np.uint8)
    label[_mean(coch, ns) >= 0.5] = 2
    label[_mean(vs, ns) >= 0.5] = 1
    aux = np.zeros(lattice.shape, dtype=np.uint8)
    aux[_mean(stem, ns) >= 0.5] = 1
    aux[_mean(cereb, ns) >= 0.5] = 2
    aux[label == 1] = 0
    voxel = float(np.prod(np.linalg.norm(lattice.steps, axis=1)))
    coch_r = (_mean(coch & right, ns) >= 0.5) & (label == 2)
    volumes = {
        "vs": float(np.count_nonzero(label == 1)) * voxel,
        "cochlea_right": float(np.count_nonzero(coch_r)) * voxel,
        "cochlea_left": float(np.count_nonzero((label == 2) & ~coch_r)) * voxel,
        "brainstem_in_grid": float(np.count_nonzero(aux == 1)) * voxel,
    }
    tissue = np.ascontiguousarray(cls[ns // 2:: ns])
    return Rendered(images=images, label=label, aux=aux, tissue=tissue, volumes=volumes)


def _mean(a: npt.NDArray[np.generic], ns: int) -> F32:
    if ns == 1:
        return np.asarray(a, dtype=np.float32)
    s = a.reshape(a.shape[0] // ns, ns, *a.shape[1:])
    return np.asarray(s.mean(axis=1, dtype=np.float32), dtype=np.float32)
