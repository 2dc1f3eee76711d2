"""Real anatomy for the phantom: deepmriprep's MIT templates, loaded lazily and cached per process.

* ``Template_05mm_bet.nii.gz``: brain-extracted T1 template, 339x411x339 at 0.5 mm, RAS
  (x = 0.5 i - 84, y = 0.5 j - 120, z = 0.5 k - 72 mm, MNI space), values 0..1.
* ``neuromorphometrics.nii.gz`` (+ ``.csv``): 1 mm label atlas (LAS, x = 80 - i, y = j - 116,
  z = k - 72) with 35 brain stem, 38/39 cerebellum exterior, 40/41 cerebellar white matter,
  71-73 vermis, 4/11 third/fourth ventricle, 46 CSF, 49-52 lateral ventricles.

Both are resampled once onto the 0.5 mm grid of the T1 template as two ``uint8`` arrays in
``(i, j, k)`` = (x, y, z) order: the T1 intensity (0..255) and a *code* array. Codes below
:data:`OUTSIDE` are brain structures; codes ``>= OUTSIDE`` lie outside the brain mask and hold
the distance to the mask, ``OUTSIDE + round(d / 0.5 mm)`` (capped), used to synthesise CSF,
bone, soft tissue and air around the brain-extracted template.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BRAIN",
    "BRAINSTEM",
    "CEREBELLUM",
    "VENTRICLE",
    "OUTSIDE",
    "DIST_STEP_MM",
    "Templates",
    "template_dir",
    "load_templates",
]

logger = logging.getLogger(__name__)

BRAIN, BRAINSTEM, CEREBELLUM, VENTRICLE = 1, 2, 3, 4
"""Codes of voxels inside the brain mask."""
OUTSIDE = 10
"""First code outside the brain mask; code ``OUTSIDE + n`` is ``n * DIST_STEP_MM`` outside it."""
DIST_STEP_MM = 0.5

_NM_BRAINSTEM = (35,)
_NM_CEREBELLUM = (38, 39, 40, 41, 71, 72, 73)
_NM_VENTRICLE = (4, 11, 46, 49, 50, 51, 52)

_PAD = 40  # mm of padding of the 1 mm distance map, so the head extends beyond the template box
T1_FILE = "Template_05mm_bet.nii.gz"
LABEL_FILE = "neuromorphometrics.nii.gz"


@dataclass(frozen=True)
class Templates:
    """The preprocessed template arrays (all ``(i, j, k)`` on the T1 template grid).

    Attributes:
        t1: ``uint8`` T1 intensity, 0..255 (0 outside the brain mask).
        code: ``uint8`` structure/distance code (see module docstring).
        ras_to_index: 3x4 affine mapping MNI RAS mm to ``(i, j, k)`` indices.
        source: Folder the files were read from.
        dist: ``uint8`` distance outside the brain mask on a 1 mm grid (padded by 40 mm), in
            :data:`DIST_STEP_MM` units (for smooth linear interpolation).
        dist_pad: Padding of ``dist`` in its voxels: ``dist`` index = T1 index / 2 + ``dist_pad``.
    """

    t1: npt.NDArray[np.uint8]
    code: npt.NDArray[np.uint8]
    ras_to_index: npt.NDArray[np.float64]
    source: Path
    dist: npt.NDArray[np.uint8]
    dist_pad: int

    @property
    def t1_scale(self) -> float:
        """Factor from stored ``t1`` values to the template's 0..1 intensity."""
        return 1.0 / 255.0


def template_dir() -> Path:
    """Folder of deepmriprep's templates (``deepmriprep/data/templates``), found via importlib."""
    # find_spec locates the package without importing it (deepmriprep's own imports need torch).
    spec = importlib.util.find_spec("deepmriprep")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "crossmoda-phantom needs the templates of deepmriprep (MIT): "
            "pip install --no-deps deepmriprep==0.3.0"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "templates"
    if not (path / T1_FILE).is_file():
        raise FileNotFoundError(f"{path / T1_FILE}: deepmriprep template missing")
    return path


@functools.lru_cache(maxsize=1)
def load_templates() -> Templates:
    """Load, resample and cache the templates (a few seconds, once per process)."""
    import nibabel as nib
    from scipy import ndimage

    folder = template_dir()
    t1_img: Any = nib.load(str(folder / T1_FILE))
    t1f = np.asarray(t1_img.dataobj, dtype=np.float32)
    t1 = np.clip(np.rint(t1f * 255.0), 0, 255).astype(np.uint8)
    del t1f
    aff = np.asarray(t1_img.affine, dtype=np.float64)
    ras_to_index = np.asarray(np.linalg.inv(aff)[:3, :], dtype=np.float64)
    shape = t1.shape

    lab_img: Any = nib.load(str(folder / LABEL_FILE))
    lab = np.asarray(lab_img.dataobj).astype(np.int32)
    lab_inv = np.linalg.inv(np.asarray(lab_img.affine, dtype=np.float64))
    # Nearest label for every 0.5 mm voxel; both grids are axis-aligned, so per-axis index maps.
    axes_idx = []
    for axis in range(3):
        n = np.arange(shape[axis], dtype=np.float64)
        world = aff[axis, axis] * n + aff[axis, 3]
        idx = lab_inv[axis, axis] * world + lab_inv[axis, 3]
        axes_idx.append(np.clip(np.rint(idx).astype(np.int64), 0, lab.shape[axis] - 1))
    lab05 = lab[np.ix_(*axes_idx)]

    inside = t1 > 2
    code = np.zeros(shape, dtype=np.uint8)
    code[inside] = BRAIN
    code[inside & np.isin(lab05, _NM_BRAINSTEM)] = BRAINSTEM
    code[inside & np.isin(lab05, _NM_CEREBELLUM)] = CEREBELLUM
    code[inside & np.isin(lab05, _NM_VENTRICLE)] = VENTRICLE
    del lab05

    # Distance outside the mask at 1 mm, then repeated onto the 0.5 mm grid.
    coarse = np.pad(~inside[::2, ::2, ::2], _PAD, constant_values=True)
    dist = ndimage.distance_transform_edt(coarse, sampling=(1.0, 1.0, 1.0)).astype(np.float32)
    steps = np.clip(np.rint(dist / DIST_STEP_MM), 1, 255 - OUTSIDE).astype(np.uint8) + OUTSIDE
    core = steps[_PAD:-_PAD, _PAD:-_PAD, _PAD:-_PAD]
    fine = np.repeat(np.repeat(np.repeat(core, 2, 0), 2, 1), 2, 2)[: shape[0], : shape[1], : shape[2]]
    outside = ~inside
    code[outside] = fine[outside]
    logger.info("loaded templates from %s: T1 %s at 0.5 mm", folder, shape)
    return Templates(
        t1=t1,
        code=code,
        ras_to_index=ras_to_index,
        source=folder,
        dist=np.clip(np.rint(dist / DIST_STEP_MM), 0, 255).astype(np.uint8),
        dist_pad=_PAD,
    )
