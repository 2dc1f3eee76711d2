"""Grids, world frames and the smooth random deformation of a phantom case.

Three frames: *template* (MNI RAS mm of the deepmriprep templates), *case* (RAS mm in which
the case's anatomy, canal, cochleas and tumour are defined) and *world* (LPS mm as written in
the NIfTI/ITK header). ``world = diag(-1, -1, 1) @ case + offset``. A case point ``x`` shows the
template at ``A (x - u(x)) + b + sum_k v_k exp(-|x - c_k|^2 / 2 s_k^2)``: a random affine, smooth
Gaussian bumps, and ``u`` the mass-effect push of a Koos IV tumour (zero otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from crossmoda.core.io import Geometry
from crossmoda.phantom.templates import DIST_STEP_MM, Templates

__all__ = [
    "FLIP",
    "Lattice",
    "Push",
    "Deformation",
    "random_deformation",
    "sample_templates",
    "sample_distance",
    "ras_to_indices",
    "rotation",
]

FLIP = np.diag([-1.0, -1.0, 1.0])
"""RAS <-> LPS axis flip (its own inverse)."""

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def rotation(angles_rad: npt.ArrayLike) -> F64:
    """Rotation matrix from angles (rad) about x, y, z (applied in that order)."""
    ax, ay, az = (float(a) for a in np.asarray(angles_rad, dtype=np.float64))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


@dataclass(frozen=True)
class Lattice:
    """A regular grid of points in case space (RAS mm), array order ``(z, y, x)``.

    Point ``(k, j, i)`` lies at ``origin + k * steps[0] + j * steps[1] + i * steps[2]``; the
    three step vectors are orthogonal (their lengths are the spacings).
    """

    shape: tuple[int, int, int]
    origin: F64
    steps: F64  # (3 array axes, 3 RAS components)

    def axis_values(self, axis: int) -> F64:
        """Voxel indices along ``axis`` as float."""
        return np.arange(self.shape[axis], dtype=np.float64)

    def coords(self) -> F32:
        """RAS coordinates of every point, shape ``(3, nz, ny, nx)`` float32."""
        out = np.empty((3, *self.shape), dtype=np.float32)
        n = [self.axis_values(a) for a in range(3)]
        for c in range(3):
            out[c] = (
                (self.origin[c] + n[0] * self.steps[0, c])[:, None, None]
                + (n[1] * self.steps[1, c])[None, :, None]
                + (n[2] * self.steps[2, c])[None, None, :]
            ).astype(np.float32)
        return out

    def gaussian_1d(self, axis: int, center: npt.ArrayLike, sigma: float) -> F32:
        """Factor of :meth:`gaussian` along array ``axis`` (orthogonal steps make it separable)."""
        step = self.steps[axis]
        length = float(np.linalg.norm(step))
        proj = float(np.dot(self.origin - np.asarray(center, dtype=np.float64), step / length))
        d = self.axis_values(axis) * length + proj
        return np.exp(-(d**2) / (2.0 * sigma**2)).astype(np.float32)

    def gaussian(self, center: npt.ArrayLike, sigma: float) -> F32:
        """``exp(-|x - center|^2 / 2 sigma^2)`` on the lattice, separably (orthogonal steps)."""
        c = np.asarray(center, dtype=np.float64)
        parts = []
        for a in range(3):
            step = self.steps[a]
            length = float(np.linalg.norm(step))
            unit = step / length
            proj = float(np.dot(self.origin - c, unit))
            d = self.axis_values(a) * length + proj
            parts.append(np.exp(-(d**2) / (2.0 * sigma**2)).astype(np.float32))
        return parts[0][:, None, None] * parts[1][None, :, None] * parts[2][None, None, :]

    def sub(self, start: tuple[int, int, int], shape: tuple[int, int, int]) -> Lattice:
        """The sub-lattice starting at index ``start`` (z, y, x) with ``shape``."""
        origin = self.origin + sum(start[a] * self.steps[a] for a in range(3))
        return Lattice(shape=shape, origin=np.asarray(origin, dtype=np.float64), steps=self.steps)

    def index_of(self, ras: npt.ArrayLike) -> F64:
        """Continuous (z, y, x) index of RAS point(s) ``(..., 3)``."""
        p = np.asarray(ras, dtype=np.float64) - self.origin
        lengths2 = np.sum(self.steps**2, axis=1)
        return np.asarray(p @ self.steps.T / lengths2, dtype=np.float64)

    def geometry(self, offset_lps: npt.ArrayLike) -> Geometry:
        """ITK geometry of this lattice in world LPS (``world = FLIP @ case + offset``)."""
        spacing = [round(float(np.linalg.norm(self.steps[a])), 6) for a in (2, 1, 0)]
        cols = [FLIP @ (self.steps[a] / spacing[i]) for i, a in enumerate((2, 1, 0))]
        direction = np.stack(cols, axis=1)  # columns = x, y, z index axes
        origin = FLIP @ self.origin + np.asarray(offset_lps, dtype=np.float64)
        return Geometry(
            size=(self.shape[2], self.shape[1], self.shape[0]),
            spacing=(spacing[0], spacing[1], spacing[2]),
            origin=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=tuple(float(v) for v in direction.ravel()),
        )


@dataclass(frozen=True)
class Push:
    """Radial mass-effect push (Koos IV): tissue moves away from ``center`` by up to ``magnitude``.

    ``u(x) = magnitude * w(r) * (x - center) / r`` with ``w = r / radius`` inside ``radius`` and
    ``exp(-(r - radius)^2 / 2 falloff^2)`` outside.
    """

    center: F64
    radius: float
    magnitude: float
    falloff: float = 7.0


@dataclass(frozen=True)
class Deformation:
    """Case -> template mapping (see module docstring)."""

    matrix: F64
    translation: F64
    centers: F64 = field(default_factory=lambda: np.zeros((0, 3)))
    sigmas: F64 = field(default_factory=lambda: np.zeros(0))
    vectors: F64 = field(default_factory=lambda: np.zeros((0, 3)))
    push: Push | None = None

    def with_push(self, push: Push | None) -> Deformation:
        """A copy with ``push`` (``None`` removes it)."""
        return Deformation(self.matrix, self.translation, self.centers, self.sigmas, self.vectors, push)

    def apply_points(self, pts: npt.ArrayLike, *, with_push: bool = True) -> F64:
        """Template RAS of case points ``(N, 3)``."""
        x = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        y = x.copy()
        if with_push and self.push is not None:
            y = y - _push_points(x, self.push)
        out = y @ self.matrix.T + self.translation
        for c, s, v in zip(self.centers, self.sigmas, self.vectors, strict=True):
            w = np.exp(-np.sum((x - c) ** 2, axis=1) / (2.0 * s**2))
            out += w[:, None] * v
        return out

    def template_indices(self, lattice: Lattice, ras_to_index: F64, *, with_push: bool = True) -> F32:
        """Continuous template array indices of every lattice point, ``(3, nz, ny, nx)`` float32.

        The affine part is evaluated separably per axis and the Gaussian bumps with one
        ``einsum`` per component, so no per-point coordinate arrays are built (except for a push).
        """
        m = ras_to_index[:, :3]
        ma = m @ self.matrix
        const = m @ (self.matrix @ lattice.origin + self.translation) + ras_to_index[:, 3]
        n = [lattice.axis_values(a) for a in range(3)]
        out = np.empty((3, *lattice.shape), dtype=np.float32)
        for c in range(3):
            s0, s1, s2 = (float((ma @ lattice.steps[a])[c]) for a in range(3))
            out[c] = (
                (const[c] + n[0] * s0).astype(np.float32)[:, None, None]
                + (n[1] * s1).astype(np.float32)[None, :, None]
                + (n[2] * s2).astype(np.float32)[None, None, :]
            )
        if len(self.sigmas):
            factors = [np.stack([lattice.gaussian_1d(a, cen, float(sig)) for cen, sig in
                                 zip(self.centers, self.sigmas, strict=True)]) for a in range(3)]
            weights = self.vectors @ m.T  # (K, 3): bump vectors in index units
            for c in range(3):
                out[c] += np.einsum(
                    "kz,ky,kx->zyx", (factors[0] * weights[:, c : c + 1]).astype(np.float32),
                    factors[1], factors[2], optimize=True,
                )
        if with_push and self.push is not None:
            u = _push_grid(lattice.coords(), self.push)
            for c in range(3):
                out[c] -= ma[c, 0] * u[0] + ma[c, 1] * u[1] + ma[c, 2] * u[2]
        return out


def _push_points(x: F64, push: Push) -> F64:
    d = x - push.center
    r = np.maximum(np.linalg.norm(d, axis=1), 1e-6)
    w = np.where(r < push.radius, r / push.radius, np.exp(-((r - push.radius) ** 2) / (2 * push.falloff**2)))
    return np.asarray((push.magnitude * w / r)[:, None] * d, dtype=np.float64)


def _push_grid(x: F32, push: Push) -> F32:
    d = x - push.center.astype(np.float32)[:, None, None, None]
    r = np.maximum(np.sqrt(np.sum(d * d, axis=0)), np.float32(1e-6))
    w = np.where(
        r < push.radius,
        r / np.float32(push.radius),
        np.exp(-((r - np.float32(push.radius)) ** 2) / np.float32(2 * push.falloff**2)),
    )
    return (np.float32(push.magnitude) * w / r)[None] * d


def random_deformation(
    rng: np.random.Generator,
    center: npt.ArrayLike,
    n_bumps: int = 6,
    scale_sd: float = 0.04,
    rot_deg: float = 3.0,
    bump_mm: float = 1.5,
) -> Deformation:
    """A random smooth deformation around ``center`` (case RAS): affine plus Gaussian bumps."""
    c = np.asarray(center, dtype=np.float64)
    scale = np.clip(1.0 + rng.normal(0.0, scale_sd, 3), 0.88, 1.12)
    rot = rotation(np.deg2rad(rng.normal(0.0, rot_deg, 3)))
    matrix = rot @ np.diag(1.0 / scale)
    translation = c - matrix @ c + rng.normal(0.0, 1.0, 3)
    centers = c + rng.uniform(-45.0, 45.0, (n_bumps, 3)) * np.array([1.0, 0.8, 0.6])
    sigmas = rng.uniform(12.0, 25.0, n_bumps)
    vectors = rng.normal(0.0, bump_mm, (n_bumps, 3))
    return Deformation(matrix, translation, centers, sigmas, vectors)


def sample_templates(tpl: Templates, idx: F32) -> tuple[F32, npt.NDArray[np.uint8]]:
    """T1 intensity (0..1, linear) and code (nearest) at template indices ``(3, ...)``."""
    t1 = ndimage.map_coordinates(
        tpl.t1, idx, order=1, mode="constant", cval=0.0, output=np.float32, prefilter=False
    )
    t1 *= np.float32(tpl.t1_scale)
    code = ndimage.map_coordinates(
        tpl.code, idx, order=0, mode="constant", cval=255, output=np.uint8, prefilter=False
    )
    return t1, code


def sample_distance(tpl: Templates, idx: F32) -> F32:
    """Distance outside the brain mask (mm; linear on the 1 mm map) at template indices ``(3, ...)``."""
    didx = idx * np.float32(0.5)
    didx += np.float32(tpl.dist_pad)
    d = ndimage.map_coordinates(
        tpl.dist, didx, order=1, mode="constant", cval=255.0, output=np.float32, prefilter=False
    )
    d *= np.float32(DIST_STEP_MM)
    return d


def ras_to_indices(tpl: Templates, ras: npt.ArrayLike) -> F32:
    """Template indices ``(3, N)`` of template RAS points ``(N, 3)``."""
    p = np.asarray(ras, dtype=np.float64).reshape(-1, 3)
    return np.asarray((p @ tpl.ras_to_index[:, :3].T + tpl.ras_to_index[:, 3]).T, dtype=np.float32)
