"""Preview PNG of phantom cases: an axial slice through the tumour's canal, ceT1 beside hrT2
(the paired truth provides the other contrast of every case), label contours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from crossmoda.core.cases import parse_case
from crossmoda.core.io import read_array

__all__ = ["preview", "case_files"]


def case_files(root: Path, case: str) -> dict[str, Path]:
    """ceT1, hrT2, Label and Aux files of ``case`` in the data set ``root``."""
    meta = json.loads((root / "meta" / f"{case}.json").read_text())
    truth = root / "paired_truth"
    if meta["split"] == "source_training":
        src = root / "source_training"
        return {
            "ceT1": src / f"{case}_ceT1.nii.gz",
            "hrT2": truth / f"{case}_hrT2.nii.gz",
            "Label": src / f"{case}_Label.nii.gz",
            "Aux": src / f"{case}_Aux.nii.gz",
        }
    return {
        "ceT1": truth / f"{case}_ceT1.nii.gz",
        "hrT2": root / meta["split"] / f"{case}_hrT2.nii.gz",
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


def preview(path: str | Path, output: str | Path, *, case: str | None = None, n_cases: int = 1) -> Path:
    """Write a PNG: one row per case, columns ceT1 and hrT2 at the porus slice, with VS (red),
    cochlea (yellow) and brainstem (cyan) contours.

    ``path`` is a data set folder (its first ``n_cases`` cases, or ``case``) or any file/folder in it.
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
    names = [case] if case is not None else [m.stem for m in metas[:n_cases]]
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.6 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        meta = json.loads((root / "meta" / f"{name}.json").read_text())
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
            for arr, value, color in ((label, 1, "red"), (label, 2, "yellow"), (aux, 1, "cyan")):
                m = (arr[k] == value).astype(float)
                if m.any():
                    ax.contour(m, levels=[0.5], colors=[color], linewidths=0.7)
            koos = meta["koos"] if meta["koos"] is not None else "post-op"
            ax.set_title(f"{name} {mod} ({meta['site']}, Koos {koos}, {meta['tumour_side']})", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
