"""Tissue classes and MR contrast: ceT1 and hrT2 intensities, bias field, Rician noise, scaling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crossmoda.phantom.geometry import Lattice

__all__ = [
    "TISSUES", "TISSUE_NAMES", "Contrast", "random_contrast", "acquisition_contrast", "bias_field", "rician",
]

AIR, CSF, GM, WM, BONE, SOFT, VS, CYST, COCHLEA, LABYRINTH, NERVE, CAVITY, FAT = range(13)
TISSUE_NAMES: dict[int, str] = {
    AIR: "air",
    CSF: "csf",
    GM: "grey_matter",
    WM: "white_matter",
    BONE: "bone",
    SOFT: "soft_tissue",
    VS: "schwannoma",
    CYST: "schwannoma_cyst",
    COCHLEA: "cochlea",
    LABYRINTH: "labyrinth",
    NERVE: "nerve",
    CAVITY: "resection_cavity",
    FAT: "fat",
}
TISSUES = tuple(TISSUE_NAMES)

F32 = npt.NDArray[np.float32]

# Template T1 intensity (0..1) knots: CSF, CSF/GM border, GM, WM.
_T_KNOTS = np.array([0.0, 0.32, 0.47, 0.66, 0.93, 1.0], dtype=np.float32)
CSF_T_MAX, WM_T_MIN = 0.42, 0.85
"""Template T1 thresholds of the CSF and white-matter masks."""


@dataclass(frozen=True)
class Contrast:
    """Class intensities (lookup tables, relative units) and brain curves of one case and modality."""

    lut: F32  # (n_classes,) intensity per tissue class
    brain_curve: F32  # intensities at _T_KNOTS
    reference: float  # intensity used as the noise/scaling reference

    def brain(self, t1: F32) -> F32:
        """Brain intensity from template T1 values."""
        return np.interp(t1, _T_KNOTS, self.brain_curve).astype(np.float32)


def random_contrast(rng: np.random.Generator, modality: str) -> Contrast:
    """Jittered tissue intensities. ceT1: VS > WM > GM > CSF, cochlea dark; hrT2: CSF and inner-ear
    fluid bright, VS darker (cysts bright), bone dark."""
    j = lambda v, s=0.06: float(v * (1.0 + rng.uniform(-s, s)))  # noqa: E731
    lut = np.zeros(len(TISSUE_NAMES), dtype=np.float32)
    if modality == "ceT1":
        csf, gm, wm = j(0.17), j(0.52), j(0.76)
        lut[[AIR, CSF, GM, WM, BONE, SOFT]] = [0.0, csf, gm, wm, j(0.06), j(0.42)]
        lut[VS] = j(1.25, 0.12)
        lut[[CYST, COCHLEA, LABYRINTH, NERVE, CAVITY, FAT]] = [
            j(0.25),
            j(0.2),
            j(0.2),
            j(0.5),
            j(0.2),
            j(0.95),
        ]
        curve = [csf, csf, 0.5 * (csf + gm), gm, wm, wm * 1.03]
        return Contrast(lut=lut, brain_curve=np.array(curve, dtype=np.float32), reference=wm)
    if modality == "hrT2":
        csf, gm, wm = j(1.0, 0.03), j(0.38), j(0.27)
        lut[[AIR, CSF, GM, WM, BONE, SOFT]] = [0.0, csf, gm, wm, j(0.04), j(0.2)]
        lut[VS] = j(0.42, 0.15)
        lut[[CYST, COCHLEA, LABYRINTH, NERVE, CAVITY, FAT]] = [
            j(0.85),
            j(0.95, 0.04),
            j(0.93),
            j(0.3),
            j(0.9),
            j(0.55),
        ]
        curve = [csf, csf, 0.55 * (csf + gm), gm, wm, wm * 0.97]
        return Contrast(lut=lut, brain_curve=np.array(curve, dtype=np.float32), reference=csf)
    raise ValueError(f"unknown modality {modality!r}")


def bias_field(rng: np.random.Generator, lattice: Lattice, center: npt.ArrayLike, amplitude: float) -> F32:
    """Smooth multiplicative field ``exp(sum of 3 wide Gaussians)``, log peak-to-peak ~ ``amplitude``."""
    log = np.zeros(lattice.shape, dtype=np.float32)
    c = np.asarray(center, dtype=np.float64)
    for _ in range(3):
        cen = c + rng.uniform(-70.0, 70.0, 3)
        log += np.float32(rng.uniform(-1.0, 1.0) * amplitude) * lattice.gaussian(
            cen, float(rng.uniform(50, 90))
        )
    return np.exp(log)


def rician(rng: np.random.Generator, image: F32, sigma: float) -> F32:
    """Magnitude of the image plus complex Gaussian noise of standard deviation ``sigma``."""
    n1 = rng.standard_normal(image.shape, dtype=np.float32)
    n1 *= np.float32(sigma)
    n1 += image
    n2 = rng.standard_normal(image.shape, dtype=np.float32)
    n2 *= np.float32(sigma)
    return np.sqrt(n1 * n1 + n2 * n2)


def acquisition_contrast(con: Contrast, modality: str, field_t: float, two_d: bool) -> Contrast:
    """Contrast of a routine acquisition: at 3 T grey/white contrast and enhancement grow; a 2D
    turbo-spin-echo T2 (not a CISS/SPACE-type 3D sequence) shows bright fat, a brighter tumour and
    nerves, and a slightly brighter brain."""
    lut = con.lut.copy()
    curve = con.brain_curve.copy()
    if field_t >= 3.0:
        if modality == "ceT1":
            lut[VS] *= np.float32(1.1)
            curve[3:] *= np.float32(1.05)
        else:
            curve[3] *= np.float32(1.06)
            curve[4:] *= np.float32(0.92)
    if two_d and modality == "hrT2":
        lut[FAT] *= np.float32(1.5)
        lut[[VS, NERVE, SOFT]] *= np.float32(1.2)
        curve[2:] *= np.float32(1.1)
    return Contrast(lut=lut, brain_curve=curve, reference=con.reference)
