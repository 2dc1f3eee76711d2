"""Benchmark of the training chain: four rows on the phantom's test split.

1. no adaptation (segmenter trained on ceT1, applied to the target T2: hrT2 in crossMoDA 2022,
   T2 in 2023),
2. translation + segmentation,
3. translation + segmentation + self-training,
4. supervised upper bound (trained on the target T2 with the phantom's paired-truth labels),

with Dice and ASSD per structure of each model's label map (``model.json``; 2022: VS, cochlea;
2023: extra-meatal, intra-meatal and whole VS, cochlea; ``crossmoda.evaluation``), translation
SSIM/PSNR against the phantom's paired truth in the crop, and seconds per stage. Runs are
resumable and reused: point ``--adapted`` / ``--baseline`` / ``--supervised`` at finished
``crossmoda-train all`` runs to only evaluate them.

A test case the algorithm refuses (a clear per-case error, e.g. slices too thick) is scored with
the worst values (Dice 0, ASSD the evaluation's distance cap) and listed. Outputs in WORK:
``bench_training.json`` / ``.md`` (the rows), ``bench_training_cases.csv`` (one line per row and
case: site, acquisition, every metric, seconds, error) and ``bench_training_groups.md`` (the rows
by site and by acquisition: 3D or thick-slice 2D).

    python benchmarks/bench_training.py --data DATA --work WORK [--config JSON] [--generate]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from bench_training_tables import CASE_COLUMNS, group_table, metric_columns, refused_lines, summary_table
from crossmoda.algorithm.inference.layout import TASK_LAYOUTS, TaskLayout, layout_for
from crossmoda.algorithm.inference.predict import load_model, predict_case
from crossmoda.algorithm.model.spec import PostprocessSpec, read_model_json
from crossmoda.algorithm.training.chain import run_all
from crossmoda.algorithm.training.config import load_config
from crossmoda.core.cases import discover_cases, parse_case, parse_filename
from crossmoda.core.errors import CrossmodaError
from crossmoda.core.io import read_image, read_label_map
from crossmoda.core.provenance import provenance, write_json_atomic
from crossmoda.evaluation.case import CaseConfig, evaluate_arrays, worst_values
from crossmoda.evaluation.metrics import DEFAULT_POLICY

logger = logging.getLogger("bench_training")

ROWS = (
    ("1 no adaptation", "baseline", "segment"),
    ("2 translation + segmentation", "adapted", "segment"),
    ("3 + self-training", "adapted", "self_train"),
    ("4 supervised upper bound", "supervised", "segment"),
)
METRICS = ("Dice", "ASSD")
THICK_SLICE_MM = 2.5
"""Slice spacing (mm) from which an image without an acquisition record counts as thick-slice 2D."""


_WORKER: dict[str, Any] = {}


def _init_worker(model_dir: str, device: str, cochlea_refine_mm: float | None = None,
                 postprocess: dict[str, Any] | None = None) -> None:
    import torch

    torch.set_num_threads(1)
    model = load_model(Path(model_dir), device=device)
    if postprocess is not None:
        model.spec.postprocess = PostprocessSpec(**postprocess)
    if cochlea_refine_mm is not None:
        model.spec.postprocess.cochlea_refine_mm = cochlea_refine_mm
    _WORKER["model"] = model


def _score_case(args: tuple[str, str, str, str | None]) -> tuple[str, dict[str, float], float, str]:
    """Case, its metric values, prediction seconds and ``""`` -- or, when the algorithm refuses
    the case (``problem`` given, or a per-case error), the worst values and the reason."""
    case, image_path, label_path, problem = args
    model = _WORKER["model"]
    config = CaseConfig(model.spec.labels, metrics=METRICS)
    if problem is not None:  # another task's case: never read
        return case, worst_values(config), 0.0, problem
    t0 = time.perf_counter()
    try:
        pred = predict_case(read_image(image_path), model)
    except CrossmodaError as err:
        return case, worst_values(config), time.perf_counter() - t0, err.problem
    seconds = time.perf_counter() - t0
    ref, geo = read_label_map(label_path, model.spec.labels)
    return case, evaluate_arrays(pred.labels, ref, geo.spacing_mm, config), seconds, ""


def data_layout(data: Path, split: str) -> TaskLayout:
    """The task whose target images ``data/<split>`` holds (``*_hrT2``: crossMoDA 2022, ``*_T2``:
    2023), from the file names.

    Raises:
        ValueError: the split holds images of both tasks, or of neither.
    """
    found = [t for t in TASK_LAYOUTS.values() if discover_cases(data / split, t.modality).files]
    if len(found) != 1:
        what = " and ".join(f"*_{t.modality}" for t in found) or "no *_hrT2 or *_T2 image"
        raise ValueError(f"{data / split}: {what}; the benchmark needs one task's target images")
    return found[0]


def evaluate_on_split(
    model_dir: Path,
    data: Path,
    split: str,
    device: str,
    workers: int = 1,
    cochlea_refine_mm: float | None = None,
    postprocess: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Per-case Dice/ASSD of a model folder on ``data/<split>`` vs ``data/<split>_labels``
    (``workers`` processes, one torch thread each) with the structures of the model's label map;
    ``cochlea_refine_mm`` overrides the model's cochlea refinement distance (``0``: off), for
    ablations; ``postprocess`` (a :class:`PostprocessSpec` as a dict) replaces the model's
    post-processing. Cases the model refuses (another task's case, a grid it cannot segment) get the
    worst values and their reason in ``refused``."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    spec, _ = read_model_json(model_dir)
    model_layout = layout_for(spec.label_map)
    jobs = [(case, str(path), str(data / f"{split}_labels" / f"{case}_Label.nii.gz"),
             model_layout.case_problem(parse_filename(path)))
            for case, path in discover_cases(data / split, data_layout(data, split).modality).files.items()]
    cases: dict[str, dict[str, float]] = {}
    case_seconds: dict[str, float] = {}
    refused: dict[str, str] = {}
    with ProcessPoolExecutor(max(1, workers), initializer=_init_worker,
                             initargs=(str(model_dir), device, cochlea_refine_mm, postprocess)) as pool:
        for case, scores, secs, error in tqdm(pool.map(_score_case, jobs), total=len(jobs),
                                              desc=f"{model_dir.parent.name}"):
            cases[case] = scores
            case_seconds[case] = secs
            if error:
                refused[case] = error
                logger.warning("%s: %s refused (scored worst): %s", model_dir, case, error)
    cols = CaseConfig(spec.labels, metrics=METRICS).columns()
    return {
        "label_map": spec.label_map,
        "cases": cases,
        "mean": {c: float(np.mean([v[c] for v in cases.values()])) for c in cols},
        "std": {c: float(np.std([v[c] for v in cases.values()])) for c in cols},
        "seconds_per_case": float(np.mean(list(case_seconds.values()))),
        "n": len(cases),
        "case_seconds": case_seconds,
        "refused": refused,
    }


def case_info(data: Path, case: str, image: Path | None) -> tuple[str, str]:
    """Site code and acquisition (``3D`` or ``2D thick-slice``) of a test case: from the
    phantom's ``data/meta/<case>.json`` (``site``, ``acquisition.type``) where present, else the
    case name's site and the image header's slice spacing (:data:`THICK_SLICE_MM`)."""
    path = data / "meta" / f"{case}.json"
    meta = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    try:
        site = str(meta.get("site") or parse_case(case).site or "")
    except CrossmodaError:
        site = ""
    kind = (meta.get("acquisition") or {}).get("type")
    if kind is None and image is not None:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(image))
        reader.ReadImageInformation()
        kind = "2D" if max(reader.GetSpacing()) >= THICK_SLICE_MM else "3D"
    if kind is None:
        return site, ""
    return site, "2D thick-slice" if str(kind).startswith("2D") else str(kind)


def case_frame(results: dict[str, Any], info: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """One line per (row, case): :data:`~bench_training_tables.CASE_COLUMNS`, the metric columns,
    ``seconds`` (NaN for rows of an earlier run that did not record them) and ``error``."""
    records = []
    for row, res in sorted(results["rows"].items()):
        for case, values in res["cases"].items():
            site, acquisition = info.get(case, ("", ""))
            records.append({"row": row, "case": case, "site": site, "acquisition": acquisition, **values,
                            "seconds": res.get("case_seconds", {}).get(case, math.nan),
                            "error": res.get("refused", {}).get(case, "")})
    frame = pd.DataFrame.from_records(records, columns=None if records else [*CASE_COLUMNS, "seconds"])
    if "error" not in frame:
        frame["error"] = ""
    return frame[[*CASE_COLUMNS, *metric_columns(frame), "seconds", "error"]]


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


def markdown(results: dict[str, Any], frame: pd.DataFrame) -> str:
    """The results table (mean +- std over test cases, the columns of the rows' label maps), the
    refused cases, the translation quality line and the seconds per stage."""
    lines = [summary_table(frame)]
    refused = refused_lines(frame)
    if refused:
        lines += ["", f"Refused cases ({len(refused)}), scored Dice {DEFAULT_POLICY.worst('Dice'):g}, "
                  f"ASSD {DEFAULT_POLICY.worst('ASSD'):g} mm:", *refused]
    q = results.get("translation_quality", {})
    modality = results.get("modality", "hrT2")
    if q:
        lines.append("")
        lines.append(
            f"Translation vs paired truth (crop, {results['n_source']} source cases): pseudo-{modality} SSIM "
            f"{q['SSIM']:.3f}, PSNR {q['PSNR']:.2f} dB; untranslated ceT1 SSIM {q['identity_SSIM']:.3f}, "
            f"PSNR {q['identity_PSNR']:.2f} dB."
        )
    post = results.get("postprocess")
    if post:
        lines += ["", "Post-processing of every row as " + post["from"] + ": "
                  + ", ".join(f"{k} {v}" for k, v in post.items() if k != "from") + "."]
    lines.append("")
    lines.append(
        "Seconds per stage: "
        + "; ".join(
            f"{run}: " + ", ".join(f"{k} {v:.0f}" for k, v in t.items())
            for run, t in results["seconds"].items()
        )
    )
    return "\n".join(lines)


def groups_markdown(frame: pd.DataFrame) -> str:
    """The rows by site and by acquisition (mean +- std over each group's cases)."""
    return "\n".join([
        "By site (mean +- std over the site's test cases, refused cases scored worst):", "",
        group_table(frame, "site"), "",
        "By acquisition (3D, or 2D thick-slice T2):", "",
        group_table(frame, "acquisition"),
    ])


def translation_figure(run_dir: Path, out_png: Path, n_cases: int = 3, modality: str = "hrT2") -> Path | None:
    """ceT1 crop | pseudo-target | paired-truth target (``modality``: ``hrT2`` or ``T2``) through
    the tumour of the first ``n_cases`` source cases of a run (PNG); ``None`` when the run has no
    prepared data, pseudo-target images or paired truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = run_dir / "data"
    if not (data / "index.json").is_file():
        return None
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
            (f"pseudo-{modality} (translated)", np.load(data / "pseudo" / f"{case}_image.npy")),
            (f"{modality} (paired truth)", np.load(data / "source" / f"{case}_truth_hrT2.npy")),
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
    """Run (or reuse) the three trainings and evaluate the four rows on the test split; write
    ``WORK/<stem>.json``, ``.md``, ``_cases.csv`` and ``_groups.md`` (stem ``bench_training``)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--adapted", type=Path, default=None, help="finished adapted run (default WORK/adapted)")
    p.add_argument(
        "--baseline", type=Path, default=None, help="finished baseline run (default WORK/baseline)"
    )
    p.add_argument(
        "--supervised", type=Path, default=None, help="finished supervised run (default WORK/supervised)"
    )
    p.add_argument("--generate", action="store_true", help="generate the phantom into --data first")
    p.add_argument("--evaluate-only", action="store_true",
                   help="train nothing: evaluate the runs' stage model folders as they are")
    p.add_argument("--source", type=int, default=40)
    p.add_argument("--target", type=int, default=40)
    p.add_argument("--test", type=int, default=20)
    p.add_argument("--edition", type=int, default=2022, choices=[2022, 2023],
                   help="crossMoDA edition of the generated phantom (with --generate)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes for the test-set evaluation")
    p.add_argument("--cochlea-refine-mm", type=float, default=None,
                   help="override every model's cochlea refinement distance (0: off), for the "
                   "ablation; results go to bench_training_cochlea_refine_<mm>.json/.md")
    p.add_argument("--postprocess-from", type=Path, default=None, metavar="MODEL_DIR",
                   help="every row post-processes as this model folder does (e.g. a shipped model "
                   "whose post-processing was set after training)")
    p.add_argument("--rows", nargs="+", default=None, choices=["1", "2", "3", "4"],
                   help="evaluate only these rows (the others' results are kept from an earlier run)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.generate and not args.data.is_dir():
        from crossmoda.phantom.config import PhantomConfig
        from crossmoda.phantom.dataset import generate_dataset

        generate_dataset(args.data, PhantomConfig(source=args.source, target=args.target, validation=10,
                                                  test=args.test, seed=args.seed, preset="small",
                                                  edition=args.edition))
    runs = {
        "adapted": args.adapted or args.work / "adapted",
        "baseline": args.baseline or args.work / "baseline",
        "supervised": args.supervised or args.work / "supervised",
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
    postprocess = None
    if args.postprocess_from is not None:
        postprocess = asdict(read_model_json(args.postprocess_from)[0].postprocess)
        results["postprocess"] = {"from": str(args.postprocess_from), **postprocess}
    for row, run, stage in ROWS:
        if args.rows and row.split()[0] not in args.rows:
            continue
        if not (runs[run] / stage / "model" / "model.json").is_file():
            logger.warning("row %r: %s has no model, skipped", row, runs[run] / stage)
            continue
        res = evaluate_on_split(
            runs[run] / stage / "model", args.data, "test", args.device, args.workers, args.cochlea_refine_mm,
            postprocess,
        )
        results["rows"][row] = res
    layout = data_layout(args.data, "test")
    results["label_map"], results["modality"] = layout.labels.name, layout.modality
    done_path = runs["adapted"] / "translate" / "done.json"
    if done_path.is_file():
        done = json.loads(done_path.read_text())
        results["translation_quality"] = done.get("quality_mean", {})
        results["n_source"] = len(done.get("quality", {}))
    else:
        logger.warning("%s missing: no translation quality", done_path)
    figure = translation_figure(runs["adapted"], args.work / "translation_preview.png",
                                modality=layout.modality)
    if figure is not None:
        logger.info("translation preview: %s", figure)
    results["provenance"] = provenance("benchmarks/bench_training.py", {"argv": sys.argv[1:], **vars(args)})
    write_json_atomic(args.work / f"{stem}.json", results)
    images = discover_cases(args.data / "test", layout.modality).files
    frame = case_frame(results, {case: case_info(args.data, case, path) for case, path in images.items()})
    frame.to_csv(args.work / f"{stem}_cases.csv", index=False, float_format="%.6g")
    table = markdown(results, frame)
    (args.work / f"{stem}.md").write_text(table + "\n", encoding="utf-8")
    (args.work / f"{stem}_groups.md").write_text(groups_markdown(frame) + "\n", encoding="utf-8")
    logger.info("results:\n%s", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
