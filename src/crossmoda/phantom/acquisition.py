"""Per-case acquisition of a routine multi-centre site: which protocol (3D or 2D TSE), field
strength, slab orientation, slice gap and field of view.

Drawn from a random stream of its own (``default_rng([seed, 23, modality])``), so sites with one
fixed protocol (``ldn``, ``etz``) draw nothing and their cases stay exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from crossmoda.phantom.config import Protocol, SiteSpec

__all__ = ["Acquisition", "draw_acquisition", "OBLIQUE_DEG"]

OBLIQUE_DEG = (10.0, 25.0)
"""Tilt range of an oblique slab about the left-right axis (degrees, either sign)."""

_STREAM = 23
_MODALITY_STREAM = {"ceT1": 0, "hrT2": 1}


@dataclass(frozen=True)
class Acquisition:
    """How one image of a case is acquired.

    Attributes:
        protocol: The protocol drawn (its ranges give spacing, noise, bias and scaling).
        field_T: Field strength (1.5 or 3.0).
        gap_mm: Gap between slices (0 for 3D); the slice spacing is thickness + gap.
        tilt_deg: Slab tilt about the left-right axis (0: near-axial).
        fov_mm: In-plane field of view of the ``full`` preset, or ``None`` (protocol's matrix).
    """

    protocol: Protocol
    field_T: float = 1.5
    gap_mm: float = 0.0
    tilt_deg: float = 0.0
    fov_mm: float | None = None

    @property
    def routine(self) -> bool:
        """Whether the acquisition departs from the fixed protocols of the Gamma-Knife centres."""
        return self.protocol.routine

    def to_meta(self, thickness_mm: float, inplane_mm: float) -> dict[str, Any]:
        """JSON-ready description for ``meta/<case>.json``."""
        return {
            "type": self.protocol.name,
            "field_T": self.field_T,
            "slice_thickness_mm": round(thickness_mm, 4),
            "slice_gap_mm": round(self.gap_mm, 4),
            "inplane_mm": round(inplane_mm, 4),
            "orientation": "oblique" if self.tilt_deg else "axial",
            "tilt_deg": round(self.tilt_deg, 3),
            "fov_mm": self.fov_mm,
        }


def draw_acquisition(site: SiteSpec, modality: str, seed: int) -> Acquisition:
    """The acquisition of ``modality`` (``ceT1``/``hrT2``) for a case of ``site`` with ``seed``."""
    protocols = site.protocols(modality)
    if len(protocols) == 1 and not protocols[0].routine:
        return Acquisition(protocols[0], field_T=protocols[0].field_T[0])
    rng = np.random.default_rng([seed, _STREAM, _MODALITY_STREAM[modality]])
    prot: Protocol = protocols[int(rng.integers(0, len(protocols)))]
    field_t = float(rng.choice(prot.field_T))
    gap = float(rng.uniform(*prot.gap_mm)) if prot.gap_mm != (0.0, 0.0) else 0.0
    tilt = 0.0
    if rng.random() < prot.oblique:
        tilt = float(rng.uniform(*OBLIQUE_DEG)) * float(rng.choice([-1.0, 1.0]))
    fov = float(rng.choice(prot.fov_mm)) if prot.fov_mm else None
    return Acquisition(prot, field_T=field_t, gap_mm=round(gap, 2), tilt_deg=tilt, fov_mm=fov)
