"""Koos geometry recomputed from written labels, contrast ordering and cochlea volumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmoda.core.io import compare_geometry, read_array, read_label_map
from crossmoda.core.labels import AUX_LABELS, LABELS_2022
from crossmoda.phantom import contrast as C
from crossmoda.phantom.case import CaseSpec, generate_case
from crossmoda.phantom.verify import grade_from_evidence, koos_evidence


def _metas(root: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((root / "meta").glob("*.json"))]


def _labels(root: Path, meta: dict[str, object]) -> tuple[np.ndarray, np.ndarray, object]:
    case = meta["case"]
    folder = root / ("source_training" if meta["split"] == "source_training" else "paired_truth")
    label, geo = read_label_map(folder / f"{case}_Label.nii.gz", LABELS_2022)
    aux, _ = read_label_map(folder / f"{case}_Aux.nii.gz", AUX_LABELS)
    return label, aux, geo


def test_koos_recomputed_from_written_labels(dataset: Path) -> None:
    metas = _metas(dataset)
    assert len(metas) == 16
    for meta in metas:
        label, aux, geo = _labels(dataset, meta)
        ev = koos_evidence(label, aux, geo, meta)
        assert grade_from_evidence(ev) == meta["koos"], (meta["case"], ev)
        if meta["koos"] == 2:
            assert ev.min_distance_mm > 1.0 and meta["brainstem_gap_mm"] >= 2.5
        if meta["koos"] in (3, 4):
            assert meta["brainstem_gap_mm"] == 0.0
        if meta["koos"] == 4:
            assert meta["brainstem_displacement_mm"] >= 3.0


def test_porus_lies_on_canal_axis_in_world(dataset: Path) -> None:
    """meta's porus/fundus are world LPS points of the written grid: the VS of grade I lies
    between them (within the canal radius plus a voxel)."""
    for meta in _metas(dataset):
        if meta["koos"] != 1:
            continue
        label, _, geo = _labels(dataset, meta)
        from crossmoda.phantom.verify import voxel_world

        pts = voxel_world(geo, np.argwhere(label == 1))
        ear = meta["ears"][meta["tumour_side"]]
        porus, axis = np.array(ear["porus_lps"]), np.array(ear["canal_axis_lps"])
        t = (pts - porus) @ axis
        perp = np.linalg.norm((pts - porus) - t[:, None] * axis, axis=1)
        assert t.min() > -1.0 and t.max() < ear["canal_length_mm"] + 1.0
        assert perp.max() < ear["canal_radius_mm"] + 1.6


def test_cochlea_volumes_plausible(dataset: Path) -> None:
    vols = []
    for meta in _metas(dataset):
        v = meta["volumes_mm3"]
        vols += [v["cochlea_left"], v["cochlea_right"]]
        label, _, geo = _labels(dataset, meta)
        assert abs(np.count_nonzero(label == 2) * geo.voxel_volume_mm3
                   - v["cochlea_left"] - v["cochlea_right"]) < 1e-3 * max(1.0, v["cochlea_left"])
    vols_a = np.asarray(vols)
    assert vols_a.min() > 50.0 and vols_a.max() < 140.0
    assert 75.0 < vols_a.mean() < 110.0


@pytest.mark.parametrize(
    ("split", "site", "koos"),
    [("source_training", "ldn", 1), ("target_training", "etz", 2), ("validation", "ldn", 3),
     ("source_training", "etz", 4), ("test", "etz", 3), ("target_training", "ldn", 4)],
)
def test_contrast_ordering(split: str, site: str, koos: int) -> None:
    result = generate_case(CaseSpec(f"crossmoda2022_{site}_1", 0, split, site, koos, seed=1000 + koos))
    t1 = result.images["ceT1"].astype(np.float64)
    t2 = result.images["hrT2"].astype(np.float64)
    vs, coch = result.label == 1, result.label == 2
    csf, wm = result.tissue == C.CSF, result.tissue == C.WM
    assert vs.sum() > 10 and coch.sum() > 10 and csf.sum() > 100 and wm.sum() > 100
    assert t2[coch].mean() > t2[vs].mean()
    assert t2[csf].mean() > t2[vs].mean()
    assert t1[vs].mean() > t1[wm].mean() > t1[csf].mean()
    # The cochlea sits in the otic capsule: its fluid stands out against the bone around it in
    # both contrasts (brighter on hrT2 by far; on ceT1 grey against black), so it can be learned.
    from scipy import ndimage

    ring = ndimage.binary_dilation(coch, iterations=2) & ~coch & ~vs
    assert t2[coch].mean() > 2.0 * t2[ring].mean()
    assert t1[coch].mean() > 1.3 * t1[ring].mean()


def test_api_matches_written_files(dataset: Path) -> None:
    meta = next(m for m in _metas(dataset) if m["split"] == "validation")
    spec = CaseSpec(meta["case"], meta["index"], meta["split"], meta["site"], meta["koos"], meta["seed"])
    result = generate_case(spec)
    img, geo = read_array(dataset / "validation" / f"{meta['case']}_hrT2.nii.gz")
    # NIfTI headers hold float32: the written geometry equals the generator's to float32 precision.
    tol = {"spacing_tol": 1e-6, "origin_tol_mm": 1e-4, "direction_tol": 1e-6}
    assert compare_geometry(geo, result.geometry, **tol) == []
    assert np.array_equal(img, result.images["hrT2"])
    assert result.meta["volumes_mm3"] == meta["volumes_mm3"]
