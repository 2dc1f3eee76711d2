"""Stand-in "teams" for the 2023 demo: the reference labels, perturbed in stated ways.

The 2023 demo ranks the shipped crossMoDA 2023 model against ``perturbed-reference-eroded``, a
second team derived from the reference itself and named so that no one takes it for a method.
The stand-ins:

* ``perturbed-reference-eroded``: every structure eroded by one voxel in-plane (a structure that
  would vanish is kept as it is);
* ``perturbed-reference-split-shifted``: the extra-/intra-meatal boundary moved two voxels
  laterally (intra-meatal voxels touching the extra-meatal part relabelled, twice) and the cochlea
  grown by one voxel in-plane.

Their scores say nothing about segmentation on real or phantom T2; they give the ranking a second
team and show the 2023 columns and the empty-structure policy working end to end.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from crossmoda.core.cases import discover_cases
from crossmoda.core.io import read_label_map, write_label_map
from crossmoda.core.labels import LABELS_2023

__all__ = ["PERTURBATIONS", "eroded", "split_shifted", "write_perturbed_team"]

logger = logging.getLogger(__name__)

_INPLANE = np.zeros((3, 3, 3), dtype=bool)
_INPLANE[1] = ndimage.generate_binary_structure(2, 1)  # 4-neighbourhood within a slice (z, y, x)


def eroded(label: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Each non-zero label eroded by one voxel in-plane; one that would vanish is kept."""
    out = np.zeros_like(label)
    for value in np.unique(label[label > 0]).tolist():
        mask = label == value
        small = ndimage.binary_erosion(mask, structure=_INPLANE)
        out[small if small.any() else mask] = value
    return out


def split_shifted(label: npt.NDArray[np.uint8], steps: int = 2) -> npt.NDArray[np.uint8]:
    """2023 labels with the VS split moved ``steps`` voxels toward the intra-meatal side and the
    cochlea (3) grown by one voxel in-plane into the background."""
    out = label.copy()
    full = np.ones((3, 3, 3), dtype=bool)
    for _ in range(steps):
        extra = out == 1
        if not extra.any():
            break
        out[(out == 2) & ndimage.binary_dilation(extra, structure=full)] = 1
    grown = ndimage.binary_dilation(out == 3, structure=_INPLANE) & (out == 0)
    out[grown] = 3
    return out


PERTURBATIONS = {"perturbed-reference-eroded": eroded, "perturbed-reference-split-shifted": split_shifted}
"""Team name -> perturbation of a 2023 reference label array."""


def write_perturbed_team(labels: Path, output: Path, team: str) -> list[Path]:
    """Write ``output/<case>.nii.gz`` (2023 output names) for every ``<case>_Label`` in ``labels``."""
    perturb = PERTURBATIONS[team]
    written = []
    for case, path in discover_cases(labels, "Label").files.items():
        label, geometry = read_label_map(path, LABELS_2023)
        written.append(write_label_map(perturb(label), geometry, output / f"{case}.nii.gz", LABELS_2023))
    logger.info("%s: %d cases from the reference labels in %s", team, len(written), labels)
    return written
