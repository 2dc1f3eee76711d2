"""Generate one phantom case: anatomy, both contrasts on one grid, labels, tissue map and meta.

A case lives on one grid: a ``source_training`` case on its site's ceT1 grid (with the true hrT2
on that grid), every other case on the hrT2 grid (with the true ceT1 on it). The grid is oblique
(a few degrees), written in world LPS. Each output slice averages ``ns`` sub-slices 0.5 mm apart
(slice profile); the labels are the sub-slice majority of each structure. A 2023 case writes
the crossMoDA 2023 labels: 1 extra-meatal VS, 2 intra-meatal VS (split at the porus plane,
normal to the canal axis), 3 cochlea.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from crossmoda.core.io import Geometry
from crossmoda.phantom import contrast as C
from crossmoda.phantom.acquisition import Acquisition, draw_acquisition
from crossmoda.phantom.anatomy import Anatomy, build_ear, build_tumour
from crossmoda.phantom.config import SITE_SPECS, SMALL_BOX_MM, target_modality
from crossmoda.phantom.geometry import FLIP, Lattice, random_deformation, rotation
from crossmoda.phantom.render import render, render_full
from crossmoda.phantom.templates import Templates, load_templates

__all__ = ["CaseSpec", "CaseResult", "generate_case", "grid_modality", "file_modality", "edition_labels"]

MODALITIES = ("ceT1", "hrT2")
FULL_DETAIL_MM = (110.0, 70.0, 50.0)
"""Box around the canals rendered at native resolution in the ``full`` preset (x, y, z mm)."""


def grid_modality(split: str) -> str:
    """The modality whose grid a case of ``split`` is written on."""
    return "ceT1" if split == "source_training" else "hrT2"


def file_modality(modality: str, edition: int) -> str:
    """File-name modality of a rendered image (``hrT2`` is written as ``T2`` in 2023)."""
    return target_modality(edition) if modality == "hrT2" else modality


def edition_labels(
    label: npt.NDArray[np.uint8], extrameatal: npt.NDArray[np.bool_], edition: int
) -> npt.NDArray[np.uint8]:
    """The label array of ``edition`` from the rendered one (1 VS, 2 cochlea): unchanged up to
    2022; in 2023 1 extra-meatal VS, 2 intra-meatal VS, 3 cochlea."""
    if edition < 2023:
        return label
    out = np.zeros_like(label)
    out[label == 2] = 3
    vs = label == 1
    out[vs & extrameatal] = 1
    out[vs & ~extrameatal] = 2
    return out


@dataclass(frozen=True)
class CaseSpec:
    """What to generate: name, split, site, Koos grade (``None`` = post-operative), seed, preset
    and edition (2022 or 2023: labels and file names)."""

    name: str
    index: int
    split: str
    site: str
    koos: int | None
    seed: int
    preset: str = "small"
    edition: int = 2022


@dataclass
class CaseResult:
    """A generated case; arrays are ``(z, y, x)`` on ``geometry``.

    Attributes:
        images: ``{"ceT1": int16, "hrT2": int16}``, both on the case's grid.
        label: ``uint8`` 0 background, 1 VS, 2 cochlea (2023: 1 extra-meatal VS, 2 intra-meatal
            VS, 3 cochlea).
        aux: ``uint8`` 0 background, 1 brainstem, 2 cerebellum.
        tissue: ``uint8`` tissue class of each voxel's centre (:data:`contrast.TISSUE_NAMES`).
        meta: JSON-ready ground truth (world LPS mm).
    """

    spec: CaseSpec
    geometry: Geometry
    images: dict[str, npt.NDArray[np.int16]]
    label: npt.NDArray[np.uint8]
    aux: npt.NDArray[np.uint8]
    tissue: npt.NDArray[np.uint8]
    meta: dict[str, Any] = field(default_factory=dict)


def _output_lattice(
    rng: np.random.Generator, spec: CaseSpec, center: npt.NDArray[np.float64], acq: Acquisition
) -> tuple[Lattice, npt.NDArray[np.float64], float]:
    """The case's output grid, its world offset and its slice thickness (mm)."""
    prot = acq.protocol
    sp_in = float(rng.choice(prot.inplane_mm))
    thickness = float(rng.choice(prot.slice_mm))
    sp_z = thickness + acq.gap_mm
    obl = rotation(np.deg2rad(rng.normal(0.0, 3.0, 3)))
    if acq.tilt_deg:
        obl = rotation(np.deg2rad([acq.tilt_deg, 0.0, 0.0])) @ obl
    steps = np.stack([FLIP @ obl[:, 2] * sp_z, FLIP @ obl[:, 1] * sp_in, FLIP @ obl[:, 0] * sp_in])
    if spec.preset == "small":
        shape = (
            int(round(SMALL_BOX_MM[2] / sp_z)),
            int(round(SMALL_BOX_MM[1] / sp_in)),
            int(round(SMALL_BOX_MM[0] / sp_in)),
        )
        grid_center = center
    else:
        m = int(rng.choice(prot.matrix)) if acq.fov_mm is None else 2 * int(round(acq.fov_mm / sp_in / 2))
        nz = int(rng.integers(prot.slices[0], prot.slices[1] + 1))
        shape = (nz, m, m)
        grid_center = np.array([0.0, -18.0, center[2] + 0.3 * max(nz * sp_z - 60.0, 0.0)])
    origin = grid_center - sum(steps[a] * (shape[a] - 1) / 2.0 for a in range(3))
    offset = rng.normal(0.0, 8.0, 3) + np.array([0.0, 15.0, 10.0])
    return Lattice(shape=shape, origin=np.asarray(origin, dtype=np.float64), steps=steps), offset, thickness


def build_anatomy(rng: np.random.Generator, spec: CaseSpec, tpl: Templates) -> Anatomy:
    """Deformation, both ears and the tumour (or cavity) of a case."""
    for _attempt in range(6):
        center = np.array([0.0, -25.0, -41.0]) + rng.normal(0.0, 1.0, 3)
        deformation = random_deformation(rng, center)
        csf_mm = float(rng.uniform(1.5, 3.0))
        ears = (
            build_ear(rng, -1, center, deformation, tpl, csf_mm),
            build_ear(rng, 1, center, deformation, tpl, csf_mm),
        )
        side = int(rng.integers(0, 2))
        tumour = cavity = None
        try:
            if spec.koos is None:
                cavity = build_tumour(rng, ears[side], int(rng.integers(2, 4)), deformation, tpl, postop=True)
            else:
                tumour = build_tumour(rng, ears[side], spec.koos, deformation, tpl)
        except RuntimeError:
            continue  # this anatomy leaves no room for the grade: draw another (deterministically)
        if tumour is not None and tumour.push is not None:
            deformation = deformation.with_push(tumour.push)
        return Anatomy(deformation, ears, tumour, cavity, csf_mm, center)
    raise RuntimeError(f"{spec.name}: could not build a Koos {spec.koos} case in 6 anatomies")


def generate_case(spec: CaseSpec, templates: Templates | None = None) -> CaseResult:
    """Generate one case (deterministic in ``spec.seed``); no file is written."""
    tpl = templates if templates is not None else load_templates()
    rng = np.random.default_rng(spec.seed)
    anatomy = build_anatomy(rng, spec, tpl)
    acq = {m: draw_acquisition(SITE_SPECS[spec.site], m, spec.seed) for m in MODALITIES}
    grid_acq = acq[grid_modality(spec.split)]
    lattice, offset, thickness = _output_lattice(rng, spec, anatomy.center, grid_acq)
    contrasts = {m: C.random_contrast(rng, m) for m in MODALITIES}
    for m in MODALITIES:
        if acq[m].routine:
            two_d = acq[m].protocol.name.startswith("2D")
            contrasts[m] = C.acquisition_contrast(contrasts[m], m, acq[m].field_T, two_d)
    thick = thickness if grid_acq.gap_mm > 0 else None
    if spec.preset == "small":
        out = render(rng, lattice, anatomy, contrasts, tpl, thickness_mm=thick)
    else:
        out = render_full(rng, lattice, anatomy, contrasts, tpl, FULL_DETAIL_MM, thickness_mm=thick)
    geometry = lattice.geometry(offset)
    images: dict[str, npt.NDArray[np.int16]] = {}
    for m in MODALITIES:
        prot, high = acq[m].protocol, acq[m].field_T >= 3.0
        img = out.images[m]
        bias = float(rng.uniform(*prot.bias)) * (1.4 if high else 1.0)
        img *= C.bias_field(rng, lattice, anatomy.center, bias)
        sigma = float(rng.uniform(*prot.noise)) * contrasts[m].reference * (0.65 if high else 1.0)
        img = C.rician(rng, img, sigma)
        scale = float(rng.uniform(*prot.scale)) / contrasts[m].reference
        images[m] = np.clip(np.rint(img * np.float32(scale)), 0, 32767).astype(np.int16)
    label = edition_labels(out.label, out.extrameatal, spec.edition)
    meta = _meta(spec, anatomy, lattice, geometry, offset, out.volumes)
    if spec.edition >= 2023:
        meta.update(_meta_2023(spec, anatomy, label, lattice, grid_acq, thickness, offset))
    return CaseResult(spec, geometry, images, label, out.aux, out.tissue, meta)


def _lps(p: npt.ArrayLike, offset: npt.ArrayLike) -> list[float]:
    return [round(float(v), 4) for v in FLIP @ np.asarray(p, dtype=np.float64) + np.asarray(offset)]


def _meta(
    spec: CaseSpec,
    anatomy: Anatomy,
    lattice: Lattice,
    geometry: Geometry,
    offset: npt.NDArray[np.float64],
    volumes: dict[str, float],
) -> dict[str, Any]:
    t = anatomy.lesion
    side_ear = anatomy.lesion_ear
    ears = {}
    for ear in anatomy.ears:
        name = "right" if ear.side > 0 else "left"
        ears[name] = {
            "porus_lps": _lps(ear.porus, offset),
            "canal_axis_lps": [round(float(v), 6) for v in FLIP @ ear.axis],
            "fundus_lps": _lps(ear.fundus, offset),
            "canal_length_mm": round(ear.length, 3),
            "canal_radius_mm": round(ear.canal.radius, 3),
            "cochlea_model_volume_mm3": round(ear.cochlea.volume_mm3(), 2),
        }
    side = "right" if side_ear.side > 0 else "left"
    return {
        "case": spec.name,
        "index": spec.index,
        "split": spec.split,
        "site": spec.site,
        "scanner": SITE_SPECS[spec.site].scanner,
        "preset": spec.preset,
        "seed": spec.seed,
        "grid_modality": grid_modality(spec.split),
        "geometry": geometry.to_dict(),
        "koos": t.koos,
        "postoperative": anatomy.tumour is None,
        "tumour_side": side,
        "porus_lps": ears[side]["porus_lps"],
        "canal_axis_lps": ears[side]["canal_axis_lps"],
        "ears": ears,
        "brainstem_gap_mm": None if not np.isfinite(t.gap_mm) else round(t.gap_mm, 3),
        "brainstem_penetration_mm": round(t.penetration_mm, 3),
        "brainstem_displacement_mm": 0.0 if t.push is None else round(t.push.magnitude, 3),
        "extrameatal_extent_model_mm": round(t.extent_medial_mm, 3),
        "cystic": t.cysts is not None,
        "csf_rim_mm": round(anatomy.csf_mm, 3),
        "volumes_mm3": {k: round(v, 2) for k, v in volumes.items()},
        "world_from_case": {"flip": "diag(-1,-1,1)", "offset_lps": [float(v) for v in offset]},
    }


def _meta_2023(
    spec: CaseSpec,
    anatomy: Anatomy,
    label: npt.NDArray[np.uint8],
    lattice: Lattice,
    acq: Acquisition,
    thickness: float,
    offset: npt.NDArray[np.float64],
) -> dict[str, Any]:
    """Keys a 2023 case adds to its meta: edition, label map, modality, acquisition, the split."""
    voxel = float(np.prod(np.linalg.norm(lattice.steps, axis=1)))
    ear = anatomy.lesion_ear
    inplane = float(np.linalg.norm(lattice.steps[2]))
    return {
        "edition": spec.edition,
        "label_map": "crossmoda2023",
        "grid_modality": file_modality(grid_modality(spec.split), spec.edition),
        "acquisition": acq.to_meta(thickness, inplane),
        "split_plane": {
            "porus_lps": _lps(ear.porus, offset),
            "normal_lps": [round(float(v), 6) for v in FLIP @ ear.axis],
            "rule": "intra-meatal: lateral of the plane (along the normal) and inside the canal; "
                    "extra-meatal: the rest of the tumour",
        },
        "volumes_2023_mm3": {
            "extrameatal_vs": round(float(np.count_nonzero(label == 1)) * voxel, 2),
            "intrameatal_vs": round(float(np.count_nonzero(label == 2)) * voxel, 2),
            "cochlea": round(float(np.count_nonzero(label == 3)) * voxel, 2),
        },
    }
