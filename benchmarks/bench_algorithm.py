"""Benchmark of ``crossmoda-algorithm``: seconds per ``full`` case and memory.

Runs the algorithm's folder mode in this one process (model loaded once; start-up, i.e. imports
and model loading, timed apart and excluded) on a folder of hrT2 images, by default a ``full``
phantom test set generated first (whole field of view at native resolution: 512x512 Tilburg,
448x448 London hrT2). Reports seconds per case (file reading and writing included, as the
runner does them), the per-step timings the predictor records, peak resident memory of the
process, and, with ``--ground-truth``, Dice/ASSD through ``crossmoda-evaluate``'s functions.
Targets: at most 30 s per case and 6 GB peak on a 2-core CPU; at most 3 s per case on a GPU.

Run::

    .venv/bin/python benchmarks/bench_algorithm.py --work /tmp/bench_alg [--cases 4] [--device cpu]
    .venv/bin/python benchmarks/bench_algorithm.py --input DIR --work /tmp/bench_alg

Exit status 1 when a limit is exceeded or a case failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import time
from pathlib import Path

CPU_LIMIT_S, GPU_LIMIT_S, MEMORY_LIMIT_GB = 30.0, 3.0, 6.0

logger = logging.getLogger("bench_algorithm")


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # ru_maxrss is in KiB on Linux


def _pad_slices(images: Path, labels: Path, out: Path, slices: int) -> tuple[Path, Path]:
    """Copies of the hrT2 images (and labels) mirror-padded along z to at least ``slices`` slices,
    so the benchmark runs at the 512 x 512 x 120 size of a clinical hrT2 (the phantom's ``full``
    hrT2 has 55-61 slices). Geometry stays consistent: the origin moves with the padding."""
    import SimpleITK as sitk

    from crossmoda.core.cases import discover_cases
    from crossmoda.core.io import read_image, write_image

    for kind, folder, modality in (("test", images, "hrT2"), ("test_labels", labels, "Label")):
        for path in discover_cases(folder, modality).files.values():
            img = read_image(path)
            extra = max(0, slices - img.GetSize()[2])
            lo, hi = extra // 2, extra - extra // 2
            padded = sitk.MirrorPad(img, [0, 0, lo], [0, 0, hi]) if extra else img
            if modality == "Label" and extra:  # labels: the mirrored copies would duplicate structures
                padded = sitk.ConstantPad(img, [0, 0, lo], [0, 0, hi], 0)
            write_image(padded, out / kind / path.name)
        if (folder / "koos.csv").is_file():
            (out / kind / "koos.csv").write_bytes((folder / "koos.csv").read_bytes())
    return out / "test", out / "test_labels"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every case ran within the limits."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="work folder (data, outputs, results)")
    parser.add_argument("--input", type=Path, default=None, help="hrT2 folder (default: generate one)")
    parser.add_argument("--ground-truth", type=Path, default=None, help="labels folder, to score the run")
    parser.add_argument("--cases", type=int, default=4, help="cases of the generated full test set")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--min-slices", type=int, default=120,
                        help="mirror-pad generated hrT2 to at least this many slices (0: off)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: shipped adapted)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tta", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)

    input_dir, truth = args.input, args.ground_truth
    if input_dir is None:
        from crossmoda.phantom.config import PhantomConfig
        from crossmoda.phantom.dataset import generate_dataset

        data = args.work / "data"
        if not (data / "test").is_dir():
            generate_dataset(data, PhantomConfig(source=0, target=0, validation=0, test=args.cases,
                                                 seed=args.seed, preset="full"))
        input_dir, truth = data / "test", truth or data / "test_labels"
        if args.min_slices:
            input_dir, truth = _pad_slices(input_dir, truth, args.work / "padded", args.min_slices)

    start = time.perf_counter()
    from crossmoda.algorithm.inference.cli import AlgorithmConfig, resolve_model_dir
    from crossmoda.algorithm.inference.predictor import make_case_predictor
    from crossmoda.algorithm.inference.runner import run_folder

    model_dir = resolve_model_dir(args.model)
    predictor, device = make_case_predictor(model_dir, device=args.device, tta=args.tta)
    startup_s = time.perf_counter() - start
    out = args.work / "output"
    config = AlgorithmConfig(input_dir, out, model_dir, "folder", device, args.tta)
    t0 = time.perf_counter()
    summary = run_folder(input_dir, out, predictor, config)
    wall_s = time.perf_counter() - t0
    report = json.loads((out / "predictions.json").read_text(encoding="utf-8"))
    cases = report.get("cases", {})
    per_case = {c: v.get("timings_s", {}) for c, v in cases.items()}
    totals = [t.get("total", float("nan")) for t in per_case.values()]
    n = max(len(cases), 1)
    result: dict[str, object] = {
        "device": device, "model": str(model_dir), "startup_s": startup_s, "cases": len(cases),
        "wall_s_per_case": wall_s / n,
        "predict_s_per_case_median": statistics.median(totals) if totals else None,
        "timings_s": per_case, "peak_rss_gb": _peak_rss_gb(), "failures": list(summary.failures),
    }
    if truth is not None and truth.is_dir():
        from crossmoda.core.labels import LABELS_2022
        from crossmoda.evaluation.case import CaseConfig
        from crossmoda.evaluation.folder import FolderInputs, evaluate_folder

        inputs = FolderInputs(predictions=out, ground_truth=truth, output=args.work / "eval",
                              koos_predictions=out / "predictions.csv", koos_truth=truth / "koos.csv")
        metrics = evaluate_folder(inputs, CaseConfig(LABELS_2022), progress=False)
        result["koos"] = metrics["aggregates"].get("Koos")
        result["aggregates"] = {k: v for k, v in metrics["aggregates"].items() if k != "Koos"}
        result["missing"], result["errors"] = metrics["missing"], metrics["errors"]
    limit = GPU_LIMIT_S if device.startswith("cuda") else CPU_LIMIT_S
    ok = (not summary.failures and float(str(result["wall_s_per_case"])) <= limit
          and (device.startswith("cuda") or float(str(result["peak_rss_gb"])) <= MEMORY_LIMIT_GB))
    result["within_limits"] = ok
    (args.work / "bench_algorithm.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    logger.info("%d cases on %s: %.1f s per case (wall, reading + writing included; limit %.0f s), "
                "start-up %.1f s (excluded), peak RSS %.2f GB (limit %.0f GB) -> %s", len(cases), device,
                wall_s / n, limit, startup_s, result["peak_rss_gb"], MEMORY_LIMIT_GB, "OK" if ok else "OVER")
    if "aggregates" in result:
        agg = result["aggregates"]
        assert isinstance(agg, dict)
        logger.info("scores: %s", ", ".join(f"{k} {v['mean']:.3f}" for k, v in agg.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
