"""Benchmark of the training chain: four rows on the phantom's test split.

1. no adaptation (segmenter trained on ceT1, applied to hrT2),
2. translation + segmentation,
3. translation + segmentation + self-training,
4. supervised upper bound (trained on target hrT2 with the phantom's paired-truth labels),

with Dice and ASSD per structure (``crossmoda.evaluation``), translation SSIM/PSNR against the
phantom's paired truth in the crop, and seconds per stage. Runs are resumable and reused: point
``--adapted`` / ``--baseline`` at finished ``crossmoda-train all`` runs to only evaluate them.

    python benchmarks/bench_training.py --data DATA --work WORK [--config JSON] [--generate]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from crossmoda.algorithm.inference.predict import load_model, predict_case
from crossmoda.algorithm.training.chain import run_all
from crossmoda.algorithm.training.config import load_config
from crossmoda.core.cases import discover_cases
from crossmoda.core.io import read_image, read_label_map
from crossmoda.core.labels import LABELS_2022
from crossmoda.core.provenance import provenance, write_json_atomic
from crossmoda.evaluation.case import CaseConfig, evaluate_arrays

logger = logging.getLogger("bench_training")

ROWS = (
    ("1 no adaptation", "baseline", "segment"),
    ("2 translation + segmentation", "adapted", "segment"),
    ("3 + self-training", "adapted", "self_train"),
    ("4 supervised upper bound", "supervised", "segment"),
)


_WORKER: dict[str, Any] = {}


def _init_worker(model_dir: str, device: str, cochlea_refine_mm: float | None = None) -> None:
    import torch

    torch.set_num_threads(1)
    model = load_model(Path(model_dir), device=device)
    if cochlea_refine_mm is not None:
        model.spec.postprocess.cochlea_refine_mm = cochlea_refine_mm
    _WORKER["model"] = model


def _score_case(args: tuple[str, str, str]) -> tuple[str, dict[str, float], float]:
    case, image_path, label_path = args
    t0 = time.perf_counter()
    pred = predict_case(read_image(image_path), _WORKER["model"])
    seconds = time.perf_counter() - t0
    ref, geo = read_label_map(label_path, LABELS_2022)
    config = CaseConfig(LABELS_2022, metrics=("Dice", "ASSD"))
    return case, evaluate_arrays(pred.labels, ref, geo.spacing_mm, config), seconds


def evaluate_on_split(
    model_dir: Path,
    data: Path,
    split: str,
    device: str,
    workers: int = 1,
    cochlea_refine_mm: float | None = None,
) -> dict[str, Any]:
    """Per-case Dice/ASSD of a model folder on ``data/<split>`` vs ``data/<split>_labels``
    (``workers`` processes, one torch thread each); ``cochlea_refine_mm`` overrides the model's
    cochlea refinement distance (``0``: off), for ablations."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    jobs = [(case, str(path), str(data / f"{split}_labels" / f"{case}_Label.nii.gz"))
            for case, path in discover_cases(data / split, "hrT2").files.items()]
    cases: dict[str, dict[str, float]] = {}
    seconds = []
    with ProcessPoolExecutor(max(1, workers), initializer=_init_worker,
                             initargs=(str(model_dir), device, cochlea_refine_mm)) as pool:
        for case, scores, secs in tqdm(pool.map(_score_case, jobs), total=len(jobs),
                                       desc=f"{model_dir.parent.name}"):
            cases[case] = scores
            seconds.append(secs)
    cols = CaseConfig(LABELS_2022, metrics=("Dice", "ASSD")).columns()
    return {
        "cases": cases,
        "mean": {c: float(np.mean([v[c] for v in cases.values()])) for c in cols},
        "std": {c: float(np.std([v[c] for v in cases.values()])) for c in cols},
        "seconds_per_case": float(np.mean(seconds)),
        "n": len(cases),
    }


def _run(
    data: Path,
    run: Path,
    config: Path | None,
    mode: str,
    device: str,
    seed: int,
    share_data_from: Path | None,
) -> dict[str, Any]:
    if (
        share_data_from is not None
        and (share_data_from / "data" / "index.json").is_file()
        and not (run / "data").exists()
    ):
        run.mkdir(parents=True, exist_ok=True)
        shutil.copytree(share_data_from / "data", run / "data", ignore=shutil.ignore_patterns("pseudo"))
    if (run / "summary.json").is_file():
        return dict(json.loads((run / "summary.json").read_text()))
    cfg = load_config(config, {"mode": mode, "device": device, "seed": seed})
    return run_all(data, run, cfg)


def markdown(results: dict[str, Any]) -> str:
    """The results table (mean +- std over test cases) and the translation quality line."""
    lines = ["| row | VS Dice | VS ASSD (mm) | Cochlea Dice | Cochlea ASSD (mm) |", "|---|---|---|---|---|"]
    for name, res in sorted(results["rows"].items()):  # "1 ...", "2 ...": row order
        m, s = res["mean"], res["std"]
        lines.append(
            f"| {name} | {m['VS_Dice']:.3f} +- {s['VS_Dice']:.3f} | {m['VS_ASSD']:.2f} +- "
            f"{s['VS_ASSD']:.2f} | {m['Cochlea_Dice']:.3f} +- {s['Cochlea_Dice']:.3f} | "
            f"{m['Cochlea_ASSD']:.2f} +- {s['Cochlea_ASSD']:.2f} |"
        )
    q = results.get("translation_quality", {})
    if q:
        lines.append("")
        lines.append(
            f"Translation vs paired truth (crop, {results['n_source']} source cases): pseudo-hrT2 SSIM "
            f"{q['SSIM']:.3f}, PSNR {q['PSNR']:.2f} dB; untranslated ceT1 SSIM {q['identity_SSIM']:.3f}, "
            f"PSNR {q['identity_PSNR']:.2f} dB."
        )
    lines.append("")
    lines.append(
        "Seconds per stage: "
        + "; ".join(
            f"{run}: " + ", ".join(f"{k} {v:.0f}" for k, v in t.items())
            for run, t in results["seconds"].items()
        )
    )
    return "\n".join(lines)


def translation_figure(run_dir: Path, out_png: Path, n_cases: int = 3) -> Path | None:
    """ceT1 crop | pseudo-hrT2 | paired-truth hrT2 through the tumour of the first ``n_cases``
    source cases of a run (PNG); ``None`` when the run has no pseudo-hrT2 or paired truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = run_dir / "data"
    cases = [
        c
        for c in json.loads((data / "index.json").read_text())["splits"]["source"]
        if (data / "pseudo" / f"{c}_image.npy").is_file()
        and (data / "source" / f"{c}_truth_hrT2.npy").is_file()
    ][:n_cases]
    if not cases:
        return None
    fig, axes = plt.subplots(len(cases), 3, figsize=(9, 2.1 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases, strict=True):
        label = np.load(data / "source" / f"{case}_label.npy")
        z = int(np.median(np.argwhere(label == 1)[:, 0])) if (label == 1).any() else label.shape[0] // 2
        images = (
            ("ceT1 (source)", np.load(data / "source" / f"{case}_image.npy")),
            ("pseudo-hrT2 (translated)", np.load(data / "pseudo" / f"{case}_image.npy")),
            ("hrT2 (paired truth)", np.load(data / "source" / f"{case}_truth_hrT2.npy")),
        )
        for ax, (title, img) in zip(row, images, strict=True):
            sl = img[z].astype(np.float32)
            ax.imshow(sl, cmap="gray", vmin=float(np.percentile(sl, 1)), vmax=float(np.percentile(sl, 99.5)))
            ax.set_title(f"{title}\n{case}" if title.startswith("ceT1") else title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def _stage_seconds(summary: dict[str, Any]) -> dict[str, float]:
    out = {}
    for stage, info in summary.get("stages", {}).items():
        secs = sum(
            float(v) for k, v in info.items() if k.startswith("seconds") and isinstance(v, (int, float))
        )
        out[stage] = secs
    out["total"] = float(summary.get("seconds_total", sum(out.values())))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run (or reuse) the three trainings and evaluate the four rows on the test split."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--adapted", type=Path, default=None, help="finished adapted run (default WORK/adapted)")
    p.add_argument(
        "--baseline", type=Path, default=None, help="finished baseline run (default WORK/baseline)"
    )
    p.add_argument("--generate", action="store_true", help="generate the phantom into --data first")
    p.add_argument("--evaluate-only", action="store_true",
                   help="train nothing: evaluate the runs' stage model folders as they are")
    p.add_argument("--source", type=int, default=40)
    p.add_argument("--target", type=int, default=40)
    p.add_argument("--test", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes for the test-set evaluation")
    p.add_argument("--cochlea-refine-mm", type=float, default=None,
                   help="override every model's cochlea refinement distance (0: off), for the "
                   "ablation; results go to bench_training_cochlea_refine_<mm>.json/.md")
    p.add_argument("--rows", nargs="+", default=None, choices=["1", "2", "3", "4"],
                   help="evaluate only these rows (the others' results are kept from an earlier run)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.generate and not args.data.is_dir():
        from crossmoda.phantom.config import PhantomConfig
        from crossmoda.phantom.dataset import generate_dataset

        generate_dataset(
            args.data,
            PhantomConfig(
                source=args.source,
                target=args.target,
                validation=10,
                test=args.test,
                seed=args.seed,
                preset="small",
            ),
        )
    runs = {
        "adapted": args.adapted or args.work / "adapted",
        "baseline": args.baseline or args.work / "baseline",
        "supervised": args.work / "supervised",
    }
    modes = {"adapted": "adapted", "baseline": "no_adaptation", "supervised": "supervised"}
    summaries = {}
    for name in ("adapted", "baseline", "supervised"):
        if args.evaluate_only:
            summary = runs[name] / "summary.json"
            summaries[name] = json.loads(summary.read_text()) if summary.is_file() else {}
            continue
        share = runs["adapted"] if name != "adapted" else None
        summaries[name] = _run(args.data, runs[name], args.config, modes[name], args.device, args.seed, share)
    results: dict[str, Any] = {"rows": {}, "seconds": {k: _stage_seconds(v) for k, v in summaries.items()}}
    stem = "bench_training" + (
        "" if args.cochlea_refine_mm is None else f"_cochlea_refine_{args.cochlea_refine_mm:g}"
    )
    previous = args.work / f"{stem}.json"
    if args.rows and previous.is_file():  # evaluate some rows, keep the others' earlier results
        results["rows"] = dict(json.loads(previous.read_text())["rows"])
    for row, run, stage in ROWS:
        if args.rows and row.split()[0] not in args.rows:
            continue
        if not (runs[run] / stage / "model" / "model.json").is_file():
            logger.warning("row %r: %s has no model, skipped", row, runs[run] / stage)
            continue
        res = evaluate_on_split(
            runs[run] / stage / "model", args.data, "test", args.device, args.workers, args.cochlea_refine_mm
        )
        results["rows"][row] = res
    done = json.loads((runs["adapted"] / "translate" / "done.json").read_text())
    results["translation_quality"] = done.get("quality_mean", {})
    results["n_source"] = len(done.get("quality", {}))
    figure = translation_figure(runs["adapted"], args.work / "translation_preview.png")
    if figure is not None:
        logger.info("translation preview: %s", figure)
    results["provenance"] = provenance("benchmarks/bench_training.py", {"argv": sys.argv[1:], **vars(args)})
    write_json_atomic(args.work / f"{stem}.json", results)
    table = markdown(results)
    (args.work / f"{stem}.md").write_text(table + "\n", encoding="utf-8")
    logger.info("results:\n%s", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
