"""Per-case anatomy in case space: both internal auditory canals, cochleas and labyrinths, and
the vestibular schwannoma placed so that its Koos grade holds by construction.

Koos geometry (measured before the mass-effect warp, on the deformed template brainstem):
I, tumour confined to the canal (no voxel medial of the porus); II, extends into the
cerebellopontine angle with a gap of at least :data:`GAP_II_MM` to the brainstem; III, touches it
(penetration of the un-warped brainstem :data:`PEN_III_MM`); IV, penetrates it by
:data:`PEN_IV_MM`, then a radial push (:class:`~crossmoda.phantom.geometry.Push`) displaces the
brainstem so that it is compressed and contacts the tumour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from crossmoda.phantom.geometry import Deformation, Lattice, Push, ras_to_indices, sample_templates
from crossmoda.phantom.shapes import Blob, Polyline, Shape, Tube, Union, orthonormal, ring, spiral
from crossmoda.phantom.templates import BRAINSTEM, DIST_STEP_MM, OUTSIDE, Templates

__all__ = [
    "Anatomy",
    "Ear",
    "Tumour",
    "GAP_II_MM",
    "PEN_III_MM",
    "PEN_IV_MM",
    "build_ear",
    "build_tumour",
    "EXTRAMEATAL_MIN_MM",
]

F64 = npt.NDArray[np.float64]
GAP_II_MM = (2.5, 6.0)
PEN_III_MM = (0.3, 1.2)
PEN_IV_MM = (3.0, 6.0)
EXTRAMEATAL_MIN_MM = 3.0
"""Grades II-IV reach at least this far medial of the porus (along the canal axis)."""
_LOCAL_STEP_MM = 0.7


OTIC_CAPSULE_MM = 1.5
"""Thickness of the bone shell around the cochlea in mm."""


@dataclass(frozen=True)
class Ear:
    """The internal auditory canal and inner ear of one side (case RAS mm).

    ``axis`` points laterally from the porus (canal entrance) to the fundus; the canal's
    along-axis coordinate is 0 at the porus and ``length`` at the fundus.
    """

    side: int  # +1 right (RAS x > 0), -1 left
    porus: F64
    axis: F64
    length: float
    canal: Tube
    nerves: tuple[Tube, ...]
    cochlea: Polyline
    labyrinth: Union

    @property
    def fundus(self) -> F64:
        """Lateral end of the canal."""
        return np.asarray(self.porus + self.length * self.axis, dtype=np.float64)

    @property
    def otic_capsule(self) -> Polyline:
        """The dense bone around the cochlea: its spiral thickened by :data:`OTIC_CAPSULE_MM`
        (filling the modiolus), so the cochlear fluid stands out against bone as on real MRI."""
        return Polyline(nodes=self.cochlea.nodes, radii=self.cochlea.radii + OTIC_CAPSULE_MM)


@dataclass(frozen=True)
class Tumour:
    """A schwannoma (or, post-operatively, its resection cavity) and its Koos geometry."""

    shape: Shape
    cysts: Shape | None
    koos: int | None
    gap_mm: float
    penetration_mm: float
    push: Push | None
    extent_medial_mm: float
    main_center: F64
    texture: float = 0.1


@dataclass(frozen=True)
class Anatomy:
    """Case-space anatomy handed to the renderer: the deformation, both ears, the tumour (or,
    post-operatively, the resection cavity), the CSF rim width (mm) and the case centre."""

    deformation: Deformation
    ears: tuple[Ear, Ear]
    tumour: Tumour | None
    cavity: Tumour | None
    csf_mm: float
    center: F64

    @property
    def lesion(self) -> Tumour:
        """The tumour, or the resection cavity of a post-operative case."""
        lesion = self.tumour if self.tumour is not None else self.cavity
        if lesion is None:
            raise ValueError("anatomy without tumour or cavity")
        return lesion

    @property
    def lesion_ear(self) -> Ear:
        """The ear whose canal holds the tumour (or cavity): the one with the nearer porus."""
        center = self.lesion.main_center
        return min(self.ears, key=lambda e: float(np.linalg.norm(e.porus - center)))


def _unit(v: npt.ArrayLike) -> F64:
    a = np.asarray(v, dtype=np.float64)
    return np.asarray(a / np.linalg.norm(a), dtype=np.float64)


def build_ear(
    rng: np.random.Generator, side: int, center: F64, deformation: Deformation, tpl: Templates, csf_mm: float
) -> Ear:
    """Place one ear: march laterally from the pons to the first bone (the porus), then add canal,
    nerves, a random cochlear spiral (about 92 +- 14 mm^3) and a labyrinth."""
    axis = _unit([side * 1.0, rng.uniform(0.0, 0.25), rng.uniform(-0.1, 0.1)])
    start = np.array([side * 12.0, center[1] + rng.uniform(-1.5, 1.5), center[2] + rng.uniform(-1.5, 1.5)])
    ts = np.arange(0.0, 40.0, 0.25)
    pts = start[None, :] + ts[:, None] * axis[None, :]
    _, code = sample_templates(tpl, ras_to_indices(tpl, deformation.apply_points(pts, with_push=False)))
    bone_code = OUTSIDE + int(np.ceil(csf_mm / DIST_STEP_MM))
    hits = np.nonzero(code >= bone_code)[0]
    t_porus = float(ts[hits[0]]) if hits.size else 16.0
    porus = start + t_porus * axis
    length = float(rng.uniform(8.0, 12.0))
    radius = float(rng.uniform(1.8, 2.4))
    canal = Tube(start=porus, axis=axis, t0=-1.5, t1=length, radius=radius, flare=1.2, flare_mm=1.5)
    _, e1, e2 = orthonormal(axis)
    nerves = []
    for k in range(3):
        ang = 2.0 * np.pi * k / 3.0 + rng.uniform(0, 0.5)
        off = 0.55 * radius * (np.cos(ang) * e1 + np.sin(ang) * e2)
        nerves.append(
            Tube(start=porus + off, axis=axis, t0=-3.0, t1=length - 0.3, radius=float(rng.uniform(0.3, 0.45)))
        )
    fundus = porus + length * axis
    ant, sup = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    lat = np.array([side * 1.0, 0.0, 0.0])
    base = fundus + 1.5 * lat + rng.uniform(2.5, 4.0) * ant - rng.uniform(1.0, 2.5) * sup
    coch_axis = _unit([side * 0.7 + rng.normal(0, 0.1), 0.6 + rng.normal(0, 0.1), -0.35 + rng.normal(0, 0.1)])
    proto = spiral(
        base,
        coch_axis,
        phase=float(rng.uniform(0, 2 * np.pi)),
        turns=float(rng.uniform(2.3, 2.8)),
        base_radius=float(rng.uniform(2.8, 3.6)),
        height=float(rng.uniform(2.5, 3.5)),
        tube_radius=1.0,
    )
    target = float(np.clip(rng.normal(92.0, 14.0), 62.0, 125.0))
    # Overlapping turns merge, so calibrate the tube radius on the voxelised volume (0.25 mm grid).
    scale = np.sqrt(target / _voxel_volume(proto))
    for _ in range(2):
        cand = Polyline(nodes=proto.nodes, radii=proto.radii * scale)
        scale *= np.sqrt(target / _voxel_volume(cand))
    cochlea = Polyline(nodes=proto.nodes, radii=proto.radii * scale)
    vest_c = fundus + 3.0 * lat - 1.0 * ant + 0.5 * sup
    rot = np.stack(orthonormal(lat + rng.normal(0, 0.1, 3)))
    vest = Blob(
        centers=vest_c[None, :],
        inv_axes=(rot / np.array([2.4, 1.6, 1.5])[:, None])[None],
        radii_max=np.array([2.4]),
    )
    rings = []
    for normal, toward in (
        ((0, 0, 1), (side * 0.5, -0.9, 0.2)),
        ((side * 0.7, 0.7, 0), (0, -0.3, 1)),
        ((side * 0.7, -0.7, 0), (0, -0.6, -0.8)),
    ):
        n = _unit(normal)
        d = np.asarray(toward, dtype=np.float64)
        d = _unit(d - np.dot(d, n) * n)
        r = float(rng.uniform(2.6, 3.3))
        rings.append(
            ring(vest_c + (r + 0.8) * d, n, r, float(rng.uniform(0.35, 0.5)), phase=float(np.arctan2(0, 1)))
        )
    return Ear(side, porus, axis, length, canal, tuple(nerves), cochlea, Union((vest, *rings)))


def _voxel_volume(shape: Shape, step: float = 0.25) -> float:
    lo, hi = shape.bbox()
    axes = [np.arange(lo[c], hi[c] + step, step) for c in range(3)]
    grid = np.meshgrid(*axes, indexing="ij")
    return float(np.count_nonzero(shape.inside(np.stack(grid)))) * step**3


def _brainstem_distances(ear: Ear, deformation: Deformation, tpl: Templates) -> tuple[Lattice, F64, F64]:
    """Local axis-aligned lattice medial of the porus and (outside, inside) brainstem distances (mm)."""
    n = int(round(56.0 / _LOCAL_STEP_MM))
    center = ear.porus - 12.0 * ear.axis
    steps = np.diag([_LOCAL_STEP_MM] * 3)[::-1]  # array axes (z, y, x)
    origin = center - _LOCAL_STEP_MM * (n - 1) / 2.0
    lat = Lattice(shape=(n, n, n), origin=np.asarray(origin, dtype=np.float64), steps=steps)
    _, code = sample_templates(tpl, deformation.template_indices(lat, tpl.ras_to_index, with_push=False))
    stem = code == BRAINSTEM
    out = ndimage.distance_transform_edt(~stem, sampling=_LOCAL_STEP_MM)
    inn = ndimage.distance_transform_edt(stem, sampling=_LOCAL_STEP_MM)
    return lat, np.asarray(out), np.asarray(inn)


def _grade_ok(koos: int, gap: float, pen: float) -> bool:
    """Whether (pre-warp) gap and penetration in mm satisfy grade ``koos`` (2-4)."""
    if koos == 2:
        return GAP_II_MM[0] <= gap <= GAP_II_MM[1] + 3.0
    lo, hi = PEN_III_MM if koos == 3 else PEN_IV_MM
    return gap <= 0.0 and lo <= pen <= hi


def _too_big(koos: int, gap: float, pen: float, goal: float) -> bool:
    """Whether the tumour reaches further toward the brainstem than ``goal`` (gap or penetration)."""
    if koos == 2:
        return gap < goal
    return gap <= 0.0 and pen > goal


def _random_blob(ear: Ear, radius: float, alpha: float, offset: F64, shape_params: F64) -> Blob:
    center = ear.porus - ear.axis * alpha * radius + offset * radius
    centers, mats, rmax = [], [], []
    k = 0
    for lobe in range(1 + int(shape_params[0])):
        if lobe == 0:
            c, scale = center, 1.0
        else:
            d = _unit(shape_params[1 + 3 * k : 4 + 3 * k])
            k += 1
            c, scale = center + 0.5 * radius * d, 0.55 + 0.1 * lobe
        rot = np.stack(orthonormal(shape_params[10 + 3 * lobe : 13 + 3 * lobe]))
        radii = radius * scale * np.array([1.0, shape_params[22 + 2 * lobe], shape_params[23 + 2 * lobe]])
        centers.append(c)
        mats.append(rot / radii[:, None])
        rmax.append(radii.max())
    waves = shape_params[30:39].reshape(3, 3) / max(radius, 3.0) * 2.5
    return Blob(
        centers=np.array(centers),
        inv_axes=np.array(mats),
        radii_max=np.array(rmax),
        wave_vectors=waves,
        wave_phases=shape_params[39:42],
        wave_amps=np.full(3, 0.05),
    )


def _measure(shape: Shape, lat: Lattice, out: F64, inn: F64, ear: Ear) -> tuple[float, float, float]:
    """Gap to and penetration into the brainstem, and extent medial of the porus (mm)."""
    lo, hi = shape.bbox()
    i0 = np.clip(np.floor(lat.index_of(lo)).astype(int), 0, np.array(lat.shape) - 1)
    i1 = np.clip(np.ceil(lat.index_of(hi)).astype(int) + 1, 1, np.array(lat.shape))
    start = (int(min(i0[0], i1[0] - 1)), int(min(i0[1], i1[1] - 1)), int(min(i0[2], i1[2] - 1)))
    sub_shape = (int(i1[0] - start[0]), int(i1[1] - start[1]), int(i1[2] - start[2]))
    sub = lat.sub(start, sub_shape)
    x = sub.coords()
    mask = shape.inside(x)
    sl = tuple(slice(start[a], start[a] + sub_shape[a]) for a in range(3))
    if not mask.any():
        return float("inf"), 0.0, 0.0
    along = sum((x[c][mask] - ear.porus[c]) * ear.axis[c] for c in range(3))
    return float(out[sl][mask].min()), float(inn[sl][mask].max()), float(-np.min(along))


def _cysts(rng: np.random.Generator, center: F64, radius: float) -> Blob:
    """One to three small irregular cysts inside a tumour of main radius ``radius``."""
    n = int(rng.integers(1, 4))
    centers, mats, rmax = [], [], []
    for _ in range(n):
        rc = radius * float(rng.uniform(0.12, 0.28))
        d = rng.normal(0.0, 1.0, 3)
        c = center + _unit(d) * radius * float(rng.uniform(0.2, 0.55))
        rot = np.stack(orthonormal(rng.normal(0.0, 1.0, 3)))
        radii = rc * rng.uniform(0.7, 1.2, 3)
        centers.append(c)
        mats.append(rot / radii[:, None])
        rmax.append(float(radii.max()))
    return Blob(
        centers=np.array(centers),
        inv_axes=np.array(mats),
        radii_max=np.array(rmax),
        wave_vectors=rng.normal(0.0, 1.0, (2, 3)),
        wave_phases=rng.uniform(0, 6.3, 2),
        wave_amps=np.full(2, 0.12),
    )


def build_tumour(
    rng: np.random.Generator,
    ear: Ear,
    koos: int,
    deformation: Deformation,
    tpl: Templates,
    postop: bool = False,
) -> Tumour:
    """Draw a tumour of Koos grade ``koos`` in ``ear``'s canal (see module docstring).

    With ``postop`` the same geometry becomes a resection cavity (grade recorded as ``None``).
    """
    r_ic = ear.canal.radius - float(rng.uniform(0.2, 0.5))
    t1 = float(rng.uniform(0.55, 0.95)) * ear.length
    if koos == 1:
        t0 = float(rng.uniform(0.3, 2.0))
        t1 = max(t1, t0 + 3.0)
        ic = Tube(start=ear.porus, axis=ear.axis, t0=t0, t1=min(t1, ear.length - 0.3), radius=r_ic)
        return Tumour(
            shape=ic,
            cysts=None,
            koos=None if postop else 1,
            gap_mm=float("nan"),
            penetration_mm=0.0,
            push=None,
            extent_medial_mm=-t0,
            main_center=ear.porus + t0 * ear.axis,
        )
    ic = Tube(start=ear.porus, axis=ear.axis, t0=-2.0, t1=t1, radius=r_ic)
    lat, out, inn = _brainstem_distances(ear, deformation, tpl)
    for _attempt in range(12):
        params = np.concatenate(
            [
                [rng.integers(0, 3)],
                rng.normal(0, 1, 9),
                rng.normal(0, 1, 9),
                [0.0, 0.0, 0.0],
                rng.uniform(0.75, 1.1, 8),
                rng.normal(0, 1, 9),
                rng.uniform(0, 2 * np.pi, 3),
            ]
        )
        alpha = float(rng.uniform(0.3, 0.8) if koos > 2 or _attempt < 4 else rng.uniform(0.15, 0.4))
        offset = np.array([0.0, rng.uniform(-0.35, 0.05), rng.uniform(-0.2, 0.2)])
        goal = float(rng.uniform(*(GAP_II_MM if koos == 2 else PEN_III_MM if koos == 3 else PEN_IV_MM)))
        lo_r, hi_r = (3.0 if _attempt < 4 else 2.6), 22.0
        blob = _random_blob(ear, lo_r, alpha, offset, params)
        g, p, extent = _measure(Union((blob, ic)), lat, out, inn, ear)
        if _too_big(koos, g, p, goal) and not _grade_ok(koos, g, p):
            continue
        for _ in range(14):
            mid = 0.5 * (lo_r + hi_r)
            blob = _random_blob(ear, mid, alpha, offset, params)
            g, p, extent = _measure(Union((blob, ic)), lat, out, inn, ear)
            if _grade_ok(koos, g, p) and abs((g if koos == 2 else p) - goal) < 0.4:
                break
            if _too_big(koos, g, p, goal):
                hi_r = mid
            else:
                lo_r = mid
        if not _grade_ok(koos, g, p) or extent < EXTRAMEATAL_MIN_MM:
            continue
        push = None
        if koos == 4 and not postop:
            push = Push(center=blob.centers[0], radius=float(blob.radii_max[0]), magnitude=p)
        cysts = None
        r = float(blob.radii_max[0])
        if rng.random() < 0.3 and not postop and r >= 5.0:
            cysts = _cysts(rng, blob.centers[0], r)
        return Tumour(
            shape=Union((ic, blob)),
            cysts=cysts,
            koos=None if postop else koos,
            gap_mm=g,
            penetration_mm=p,
            push=push,
            extent_medial_mm=extent,
            main_center=blob.centers[0],
            texture=float(rng.uniform(0.05, 0.2)),
        )
    raise RuntimeError(f"could not place a Koos {koos} tumour after 12 attempts")
