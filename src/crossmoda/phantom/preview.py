"""Preview PNG of phantom cases: a slice through the tumour's canal, ceT1 beside hrT2 (``T2`` in
2023; the paired truth provides the other contrast of every case), label contours. A 2023 case
gets a third panel, the T2 reformatted across its slices (thick 2D slices show as blocks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crossmoda.core.cases import parse_case
from crossmoda.core.io import Geometry, read_array

__all__ = ["preview", "case_files"]


def case_files(root: Path, case: str) -> dict[str, Path]:
    """ceT1, hrT2 (the ``T2`` file in 2023), Label and Aux files of ``case`` in the data set ``root``."""
    meta = json.loads((root / "meta" / f"{case}.json").read_text())
    truth = root / "paired_truth"
    t2 = "T2" if meta.get("edition", 2022) >= 2023 else "hrT2"
    if meta["split"] == "source_training":
        src = root / "source_training"
        return {
            "ceT1": src / f"{case}_ceT1.nii.gz",
            "hrT2": truth / f"{case}_{t2}.nii.gz",
            "Label": src / f"{case}_Label.nii.gz",
            "Aux": src / f"{case}_Aux.nii.gz",
        }
    return {
        "ceT1": truth / f"{case}_ceT1.nii.gz",
        "hrT2": root / meta["split"] / f"{case}_{t2}.nii.gz",
        "Label": truth / f"{case}_Label.nii.gz",
        "Aux": truth / f"{case}_Aux.nii.gz",
    }


def _find_root(path: Path) -> Path:
    for p in (path, *path.parents):
        if (p / "meta").is_dir():
            return p
    raise FileNotFoundError(f"{path}: no phantom data set (no meta/ folder) here or above")


def _slice_index(
    meta: dict[str, object],
    label: npt.NDArray[np.uint8],
    geometry_origin: npt.NDArray[np.float64],
    direction: npt.NDArray[np.float64],
    spacing: npt.NDArray[np.float64],
) -> int:
    porus = np.asarray(meta["porus_lps"], dtype=np.float64)
    idx = np.linalg.solve(direction * spacing[None, :], porus - geometry_origin)
    k = int(round(idx[2]))
    return int(np.clip(k, 0, label.shape[0] - 1))


_CONTOURS: dict[int, tuple[tuple[int, str], ...]] = {
    2022: ((1, "red"), (2, "yellow")),
    2023: ((1, "red"), (2, "orange"), (3, "yellow")),
}


def _draw_contours(ax: Any, masks: list[tuple[npt.NDArray[np.bool_], str]]) -> None:
    for mask, color in masks:
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=0.7)


def _across_slices(
    ax: Any, files: dict[str, Path], meta: dict[str, Any], label: npt.NDArray[np.uint8], geo: Geometry,
    contours: tuple[tuple[int, str], ...],
) -> None:
    """T2 (z, x) through the porus row: the slice direction upward, true to scale."""
    img, _ = read_array(files["hrT2"], dtype=np.float32)
    direction = np.asarray(geo.direction, dtype=np.float64).reshape(3, 3)
    spacing = np.asarray(geo.spacing, dtype=np.float64)
    porus = np.asarray(meta["porus_lps"]) - np.asarray(geo.origin)
    idx = np.linalg.solve(direction * spacing[None, :], porus)
    j = int(np.clip(round(idx[1]), 0, label.shape[1] - 1))
    sl = img[:, j, :]
    ax.imshow(sl, cmap="gray", vmin=0, vmax=float(np.percentile(sl, 99.7)), origin="lower",
              aspect=geo.spacing_mm[0] / geo.spacing_mm[2], interpolation="nearest")
    if edition_of(meta) >= 2023:
        _draw_contours(ax, [(label[:, j, :] == v, c) for v, c in contours])
    acq = meta.get("acquisition") or {}
    thick = float(acq.get("slice_thickness_mm", geo.spacing_mm[0]))
    gap = float(acq.get("slice_gap_mm", 0.0))
    what = f"{acq.get('type', '3D')}, {acq.get('field_T', 1.5)} T, slices {thick:.1f} mm"
    what += f" + gap {gap:.1f} mm" if gap > 0 else ""
    what += f", {acq['orientation']}" if acq.get("orientation") else ""
    ax.set_title(f"across slices ({what})", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def edition_of(meta: dict[str, Any]) -> int:
    """Edition recorded in a case's meta (2022 when absent)."""
    return int(meta.get("edition", 2022))


def preview(
    path: str | Path, output: str | Path, *, case: str | list[str] | None = None, n_cases: int = 1
) -> Path:
    """Write a PNG: one row per case, columns ceT1 and hrT2 at the porus slice, with VS (red),
    cochlea (yellow) and brainstem (cyan) contours; 2023 cases: extra-meatal VS red, intra-meatal
    VS orange, cochlea yellow, and a third column across the slices through the porus.

    ``path`` is a data set folder (its first ``n_cases`` cases, or ``case``: one name or a list) or
    any file/folder in it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = Path(path)
    root = _find_root(p if p.is_dir() else p.parent)
    if case is None and p.name.startswith("crossmoda"):
        case = str(
            parse_case(p.name.split(".")[0].rsplit("_", 1)[0] if "_" in p.name and p.is_file() else p.name)
        )
    metas = sorted((root / "meta").glob("*.json"), key=lambda f: parse_case(f.stem))
    if isinstance(case, str):
        names = [case]
    else:
        names = list(case) if case else [m.stem for m in metas[:n_cases]]
    metas_by_name = {n: json.loads((root / "meta" / f"{n}.json").read_text()) for n in names}
    ncol = 3 if any(m.get("edition", 2022) >= 2023 for m in metas_by_name.values()) else 2
    fig, axes = plt.subplots(len(names), ncol, figsize=(5 * ncol, 3.6 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        meta = metas_by_name[name]
        edition = edition_of(meta)
        contours = _CONTOURS[2023 if edition >= 2023 else 2022]
        files = case_files(root, name)
        label, geo = read_array(files["Label"])
        aux, _ = read_array(files["Aux"])
        direction = np.asarray(geo.direction, dtype=np.float64).reshape(3, 3)
        k = _slice_index(meta, label, np.asarray(geo.origin), direction, np.asarray(geo.spacing))
        aspect = geo.spacing_mm[1] / geo.spacing_mm[2]
        for col, mod in enumerate(("ceT1", "hrT2")):
            img, _ = read_array(files[mod], dtype=np.float32)
            sl = img[k]
            ax = axes[row, col]
            ax.imshow(
                sl,
                cmap="gray",
                vmin=0,
                vmax=float(np.percentile(sl, 99.7)),
                aspect=aspect,
                interpolation="nearest",
            )
            _draw_contours(ax, [(label[k] == v, c) for v, c in contours] + [(aux[k] == 1, "cyan")])
            koos = meta["koos"] if meta["koos"] is not None else "post-op"
            shown = "T2" if edition >= 2023 and mod == "hrT2" else mod
            ax.set_title(f"{name} {shown} ({meta['site']}, Koos {koos}, {meta['tumour_side']})", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        if ncol == 3:
            _across_slices(axes[row, 2], files, meta, label, geo, contours)
    fig.tight_layout()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
