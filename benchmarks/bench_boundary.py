"""Where a segmenter goes wrong on real hrT2: volume bias, missed and extra voxels, their depth.

On the run's ``target_training`` crops (real hrT2, never labelled in training; the phantom's
paired truth ``<case>_truth_label.npy`` is only read here), per structure (VS, cochlea):
Dice of the cleaned prediction (:func:`crossmoda.algorithm.inference.postprocess.clean_labels`, the
self-training pseudo-label), predicted/true volume, the fraction of true voxels missed and of
extra voxels, the mean depth (mm inside the true structure) of hit and missed voxels, and the
Dice after a one-voxel dilation or erosion of the prediction. A missed fraction well above the
extra fraction with shallow misses and a dilation that helps means the boundary is drawn too
tight: a domain bias of the boundary, not a detection failure.

``--profile PNG`` also plots the mean intensity against the signed distance to the VS surface on
the run's source crops, pseudo-hrT2 beside the phantom's paired-truth hrT2: where the
translation puts the tumour's edge relative to its label.

    .venv/bin/python benchmarks/bench_boundary.py RUN [--checkpoint PT] [--cases 12] [--json OUT]
        [--profile PNG [--compare RUN2 ...] [--profile-only]]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger("bench_boundary")

STRUCTURES = {"VS": 1, "cochlea": 2}


def _dice(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    s = int(a.sum()) + int(b.sum())
    return 2.0 * float((a & b).sum()) / s if s else 1.0


def boundary_stats(
    pred: npt.NDArray[np.uint8], truth: npt.NDArray[np.uint8], spacing_mm: tuple[float, float, float]
) -> dict[str, float]:
    """Per-structure bias statistics of one crop (label maps ``(z, y, x)``, ``spacing_mm`` in
    ``(z, y, x)``); keys ``<structure>_<statistic>``."""
    from scipy import ndimage as ndi

    cross = ndi.generate_binary_structure(3, 1)
    out: dict[str, float] = {}
    for name, k in STRUCTURES.items():
        t, p = truth == k, pred == k
        n = max(1, int(t.sum()))
        depth = ndi.distance_transform_edt(t, sampling=spacing_mm)
        hit, miss = t & p, t & ~p
        out[f"{name}_Dice"] = _dice(p, t)
        out[f"{name}_volume_ratio"] = float(p.sum()) / n
        out[f"{name}_missed"] = float(miss.sum()) / n
        out[f"{name}_extra"] = float((p & ~t).sum()) / n
        out[f"{name}_depth_hit_mm"] = float(depth[hit].mean()) if hit.any() else float("nan")
        out[f"{name}_depth_missed_mm"] = float(depth[miss].mean()) if miss.any() else float("nan")
        out[f"{name}_Dice_dilated"] = _dice(ndi.binary_dilation(p, cross), t)
        out[f"{name}_Dice_eroded"] = _dice(ndi.binary_erosion(p, cross), t)
    return out


def edge_profile(run_dir: Path, cases: int, label: int = 1) -> dict[str, list[float]]:
    """Mean z-scored intensity per 0.6 mm bin of signed distance to the ``label`` surface (mm,
    negative inside) on the first ``cases`` source crops: keys ``distance_mm``, ``pseudo``
    (translated), ``truth`` (paired-truth hrT2)."""
    from scipy import ndimage as ndi

    data = run_dir / "data"
    spacing = tuple(json.loads((run_dir / "config.json").read_text())["preprocess"]["spacing_mm"])
    edges = np.arange(-3.3, 3.31, 0.6)
    sums = {"pseudo": np.zeros(len(edges) - 1), "truth": np.zeros(len(edges) - 1)}
    counts = np.zeros(len(edges) - 1)
    names = json.loads((data / "index.json").read_text())["splits"]["source"][:cases]
    for case in names:
        t = np.load(data / "source" / f"{case}_label.npy") == label
        if not t.any() or not (data / "pseudo" / f"{case}_image.npy").is_file():
            continue
        edt = ndi.distance_transform_edt
        signed = edt(~t, sampling=spacing) - edt(t, sampling=spacing)
        k = np.digitize(signed, edges) - 1
        ok = (k >= 0) & (k < len(edges) - 1)
        counts += np.bincount(k[ok], minlength=len(counts))
        for name, f in (("pseudo", f"pseudo/{case}_image.npy"), ("truth", f"source/{case}_truth_hrT2.npy")):
            img = np.load(data / f).astype(np.float64)
            sums[name] += np.bincount(k[ok], weights=img[ok], minlength=len(counts))
    keep = counts > 0
    centres = (edges[:-1] + edges[1:]) / 2
    out = {"distance_mm": [round(float(c), 2) for c in centres[keep]]}
    out.update({n: (v[keep] / counts[keep]).tolist() for n, v in sums.items()})
    return out


def plot_profile(profiles: dict[str, dict[str, list[float]]], out_png: Path) -> None:
    """Line plot of :func:`edge_profile` results keyed by run name: the paired truth (of the first;
    every run of one data set has the same) and each run's pseudo-hrT2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    first = next(iter(profiles.values()))
    ax.plot(first["distance_mm"], first["truth"], "k-o", ms=4, label="hrT2 (paired truth)")
    for i, (name, prof) in enumerate(profiles.items()):
        ax.plot(prof["distance_mm"], prof["pseudo"], f"C{i + 1}-s", ms=4, label=f"pseudo-hrT2: {name}")
    ax.axvline(0.0, color="0.6", lw=1, ls="--")
    ax.set_xlabel("signed distance to the VS label surface (mm, < 0 inside)")
    ax.set_ylabel("mean intensity (z-score)")
    ax.set_title("Tumour edge: where the translation puts it", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def run(run_dir: Path, checkpoint: Path | None, cases: int) -> dict[str, Any]:
    """Statistics of the run's final segmenter (or ``checkpoint``) on ``cases`` target crops."""
    import torch

    from crossmoda.algorithm.inference.postprocess import clean_labels
    from crossmoda.algorithm.inference.sliding_window import predict_volume
    from crossmoda.algorithm.model.network import build_segmenter, load_state
    from crossmoda.algorithm.training.config import config_from_dict
    from crossmoda.algorithm.training.run_index import RunIndex

    torch.set_num_threads(1)
    raw = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    raw.pop("provenance", None)
    cfg = config_from_dict(raw)
    if checkpoint is None:
        candidates = [run_dir / "self_train" / "model" / "segmenter.pt", run_dir / "segment" / "model.pt"]
        checkpoint = next((c for c in candidates if c.is_file()), candidates[-1])
    net = build_segmenter(cfg.segment.filters)
    state = load_state(checkpoint)
    net.load_state_dict(state.get("model", state))
    names = RunIndex.read(run_dir / "data").truth_label[:cases]
    if not names:
        raise SystemExit(f"{run_dir}: no target crops with paired truth (index.json 'truth_label')")
    per_case: dict[str, dict[str, float]] = {}
    for case in names:
        image = np.load(run_dir / "data" / "target" / f"{case}_image.npy").astype(np.float32)
        truth = np.load(run_dir / "data" / "target" / f"{case}_truth_label.npy")
        probs = predict_volume(net, image, cfg.model_spec().network, torch.device("cpu"))
        per_case[case] = boundary_stats(clean_labels(probs, cfg.preprocess.spacing_mm).combined(), truth,
                                        cfg.preprocess.spacing_mm)
        stats = per_case[case]
        logger.info("%s VS Dice %.3f missed %.2f", case, stats["VS_Dice"], stats["VS_missed"])
    keys = next(iter(per_case.values())).keys()
    mean = {k: float(np.nanmean([c[k] for c in per_case.values()])) for k in keys}
    return {"run": str(run_dir), "checkpoint": str(checkpoint), "mean": mean, "cases": per_case}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a crossmoda-train run folder (with data/)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="segmenter weights (.pt)")
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("--profile", type=Path, default=None, help="edge-profile figure (PNG)")
    parser.add_argument("--compare", type=Path, nargs="+", default=[],
                        help="more runs (translate stage done) whose pseudo-hrT2 edge profile is drawn too")
    parser.add_argument("--profile-only", action="store_true", help="only the edge profile (no segmenter)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result: dict[str, Any] = {"run": str(args.run)}
    if not args.profile_only:
        result = run(args.run, args.checkpoint, args.cases)
        for name in STRUCTURES:
            m = result["mean"]
            logger.info(
                "%-8s Dice %.3f  volume ratio %.2f  missed %.2f  extra %.2f  depth hit/missed %.2f/%.2f mm"
                "  Dice dilated %.3f eroded %.3f", name, m[f"{name}_Dice"], m[f"{name}_volume_ratio"],
                m[f"{name}_missed"], m[f"{name}_extra"], m[f"{name}_depth_hit_mm"],
                m[f"{name}_depth_missed_mm"], m[f"{name}_Dice_dilated"], m[f"{name}_Dice_eroded"],
            )
    if args.profile is not None:
        profiles = {r.name: edge_profile(r, max(args.cases, 12)) for r in (args.run, *args.compare)}
        result["edge_profile"] = profiles
        plot_profile(profiles, args.profile)
        for name, prof in profiles.items():
            rounded = {k: [round(v, 2) for v in vals] for k, vals in prof.items()}
            logger.info("edge profile %s: %s", name, rounded)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
