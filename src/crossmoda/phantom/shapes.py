"""Analytic shapes evaluated on point arrays: canal tubes, cochlear spirals, lobulated tumours.

Every shape has a RAS bounding box and ``inside(x)`` for points ``x`` of shape ``(3, ...)``
(case RAS mm), returning a boolean array of shape ``(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

__all__ = ["Shape", "Tube", "Polyline", "Blob", "Union", "spiral", "ring", "orthonormal"]

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


def orthonormal(axis: npt.ArrayLike) -> tuple[F64, F64, F64]:
    """Unit ``axis`` and two unit vectors perpendicular to it and to each other."""
    n = np.asarray(axis, dtype=np.float64)
    n = n / np.linalg.norm(n)
    helper = np.array([0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(n, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    return n, e1, e2


class Shape:
    """Base class: a bounding box and a point-membership test."""

    def bbox(self) -> tuple[F64, F64]:
        """RAS (min, max) corners in mm."""
        raise NotImplementedError

    def inside(self, x: npt.NDArray[np.floating]) -> Bool:
        """Membership of points ``x`` of shape ``(3, ...)``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Tube(Shape):
    """Points within ``radius(t)`` of the segment ``start + t * axis``, ``t0 <= t <= t1``.

    The radius is ``radius + flare * exp(-(t - t0) / flare_mm)`` (a funnel at ``t0``).
    """

    start: F64
    axis: F64
    t0: float
    t1: float
    radius: float
    flare: float = 0.0
    flare_mm: float = 1.5

    def bbox(self) -> tuple[F64, F64]:
        a = self.start + self.t0 * self.axis
        b = self.start + self.t1 * self.axis
        r = self.radius + self.flare
        return np.minimum(a, b) - r, np.maximum(a, b) + r

    def along(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        """Coordinate ``t`` of points along the axis (mm from ``start``)."""
        d = [x[c] - self.start[c] for c in range(3)]
        return d[0] * self.axis[0] + d[1] * self.axis[1] + d[2] * self.axis[2]

    def inside(self, x: npt.NDArray[np.floating]) -> Bool:
        d = [x[c] - self.start[c] for c in range(3)]
        t = d[0] * self.axis[0] + d[1] * self.axis[1] + d[2] * self.axis[2]
        perp2 = d[0] ** 2 + d[1] ** 2 + d[2] ** 2 - t**2
        r = self.radius + self.flare * np.exp(-np.maximum(t - self.t0, 0.0) / self.flare_mm)
        return np.asarray((t >= self.t0) & (t <= self.t1) & (perp2 <= r**2))


@dataclass(frozen=True)
class Polyline(Shape):
    """A tube of varying radius around densely sampled nodes (spacing well below the radius)."""

    nodes: F64  # (N, 3)
    radii: F64  # (N,)
    _tree: cKDTree = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tree", cKDTree(self.nodes))

    def bbox(self) -> tuple[F64, F64]:
        r = float(self.radii.max())
        return self.nodes.min(axis=0) - r, self.nodes.max(axis=0) + r

    def inside(self, x: npt.NDArray[np.floating]) -> Bool:
        pts = np.stack([np.ravel(x[c]) for c in range(3)], axis=1)
        dist, idx = self._tree.query(pts, k=1, distance_upper_bound=float(self.radii.max()) + 0.5)
        ok = np.isfinite(dist)
        res = np.zeros(pts.shape[0], dtype=bool)
        res[ok] = dist[ok] <= self.radii[idx[ok]]
        return res.reshape(np.shape(x[0]))

    def volume_mm3(self) -> float:
        """Approximate tube volume, ``sum(pi r^2 ds)`` (overlaps counted twice)."""
        ds = np.linalg.norm(np.diff(self.nodes, axis=0), axis=1)
        r = 0.5 * (self.radii[1:] + self.radii[:-1])
        return float(np.sum(np.pi * r**2 * ds))


@dataclass(frozen=True)
class Blob(Shape):
    """Union of ellipsoids with a smooth random surface perturbation.

    A point is inside when ``min_e |M_e (x - c_e)| < 1 + sum_k a_k sin(w_k . x + p_k)``.
    """

    centers: F64  # (E, 3)
    inv_axes: F64  # (E, 3, 3): M_e, rows = axis_unit / radius
    radii_max: F64  # (E,)
    wave_vectors: F64 = field(default_factory=lambda: np.zeros((0, 3)))
    wave_phases: F64 = field(default_factory=lambda: np.zeros(0))
    wave_amps: F64 = field(default_factory=lambda: np.zeros(0))

    def bbox(self) -> tuple[F64, F64]:
        pad = float(1.0 + np.sum(np.abs(self.wave_amps)))
        r = self.radii_max[:, None] * pad
        return (self.centers - r).min(axis=0), (self.centers + r).max(axis=0)

    def level(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        """``min_e |M_e (x - c_e)| - perturbation``; inside where below 1."""
        best = None
        for c, m in zip(self.centers, self.inv_axes, strict=True):
            d = [x[k] - c[k] for k in range(3)]
            q = sum((m[r, 0] * d[0] + m[r, 1] * d[1] + m[r, 2] * d[2]) ** 2 for r in range(3))
            best = q if best is None else np.minimum(best, q)
        assert best is not None
        lev = np.sqrt(best)
        for w, p, a in zip(self.wave_vectors, self.wave_phases, self.wave_amps, strict=True):
            lev = lev - a * np.sin(w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + p)
        return np.asarray(lev)

    def inside(self, x: npt.NDArray[np.floating]) -> Bool:
        return np.asarray(self.level(x) < 1.0)


@dataclass(frozen=True)
class Union(Shape):
    """Union of shapes."""

    parts: tuple[Shape, ...]

    def bbox(self) -> tuple[F64, F64]:
        boxes = [p.bbox() for p in self.parts]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)

    def inside(self, x: npt.NDArray[np.floating]) -> Bool:
        out = np.zeros(np.shape(x[0]), dtype=bool)
        for p in self.parts:
            out |= p.inside(x)
        return out


def spiral(
    center: F64,
    axis: F64,
    phase: float,
    turns: float,
    base_radius: float,
    height: float,
    tube_radius: float,
    step_mm: float = 0.15,
) -> Polyline:
    """A cochlea-like conical spiral: radius shrinks to 35 %, tube radius to 55 %, over ``turns``."""
    n, e1, e2 = orthonormal(axis)
    theta_max = 2.0 * np.pi * turns
    length = theta_max * base_radius * 0.7 + height
    num = max(int(length / step_mm), 50)
    th = np.linspace(0.0, theta_max, num)
    f = th / theta_max
    rad = base_radius * (1.0 - 0.65 * f)
    pts = (
        center[None, :]
        + (rad * np.cos(th + phase))[:, None] * e1
        + (rad * np.sin(th + phase))[:, None] * e2
        + (height * f)[:, None] * n
    )
    return Polyline(nodes=pts, radii=tube_radius * (1.0 - 0.45 * f))


def ring(
    center: F64, normal: F64, radius: float, tube_radius: float, arc: float = 1.7 * np.pi, phase: float = 0.0
) -> Polyline:
    """An open ring (semicircular canal) of ``arc`` radians."""
    n, e1, e2 = orthonormal(normal)
    num = max(int(arc * radius / 0.12), 30)
    th = np.linspace(phase, phase + arc, num)
    pts = center[None, :] + radius * (np.cos(th)[:, None] * e1 + np.sin(th)[:, None] * e2)
    return Polyline(nodes=pts, radii=np.full(num, tube_radius))
