"""``crossmoda-evaluate``: score crossMoDA submissions (folder or grand-challenge mode).

Exit status: 0 when metrics were written (even with per-case errors), 2 when no valid
evaluation is possible (the message says why).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from crossmoda.core.cli import (
    EXIT_USAGE,
    check_environment,
    check_writable_dir,
    positive_float,
    positive_int,
    run_cli,
    setup_logging,
)
from crossmoda.core.io import DEFAULT_MAX_VOXELS
from crossmoda.core.labels import get_label_map
from crossmoda.core.metrics_spec import ASSD_CAP_MM
from crossmoda.evaluation.case import CaseConfig
from crossmoda.evaluation.folder import FolderInputs, evaluate_folder
from crossmoda.evaluation.grand_challenge import GrandChallengeInputs, evaluate_grand_challenge
from crossmoda.evaluation.metrics import DEFAULT_METRICS, SEGMENTATION_METRICS, EdgeCasePolicy
from crossmoda.evaluation.runner import WORKERS_ENV, EvaluationError, resolve_workers

__all__ = ["build_parser", "run", "main"]

logger = logging.getLogger("crossmoda.evaluation")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``crossmoda-evaluate``."""
    p = argparse.ArgumentParser(
        prog="crossmoda-evaluate",
        description="Evaluate crossMoDA segmentations (Dice, ASSD, ...) and Koos grades. Folder mode "
        "when --predictions is given; grand-challenge mode when <input-root>/predictions.json exists.",
    )
    p.add_argument("--mode", choices=("auto", "folder", "grand-challenge"), default="auto")
    p.add_argument("--predictions", type=Path, help="folder of <case>_Label.nii.gz / .mha predictions")
    p.add_argument("--ground-truth", type=Path,
                   help="folder of reference label maps (+ koos.csv); grand-challenge default "
                        "/opt/ml/input/data/ground_truth")
    p.add_argument("--koos-predictions", type=Path,
                   help="case,class CSV (default PREDICTIONS/predictions.csv)")
    p.add_argument("--koos-truth", type=Path, help="case,class CSV (default GROUND_TRUTH/koos.csv)")
    p.add_argument("--output", type=Path, help="output folder (grand-challenge default /output)")
    p.add_argument("--input-root", type=Path, default=Path("/input"),
                   help="grand-challenge input root holding predictions.json (default /input)")
    p.add_argument("--label-map", default="crossmoda2022",
                   choices=("crossmoda2021", "crossmoda2022", "crossmoda2023"))
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                   help=f"comma-separated subset of {','.join(SEGMENTATION_METRICS)}")
    p.add_argument("--distance-cap-mm", type=positive_float, default=ASSD_CAP_MM,
                   help="distance for an empty prediction or reference (default 350)")
    p.add_argument("--max-voxels", type=positive_int, default=DEFAULT_MAX_VOXELS, help="voxel cap per image")
    p.add_argument("--workers", type=positive_int, default=None,
                   help=f"worker processes (default ${WORKERS_ENV} or CPUs)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the evaluation described by parsed arguments; returns the ``metrics.json`` content.

    Raises:
        EvaluationError: when no valid evaluation is possible.
    """
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    unknown = [m for m in metrics if m not in SEGMENTATION_METRICS]
    if unknown or not metrics:
        raise EvaluationError(f"unknown metrics {unknown}; choose from {SEGMENTATION_METRICS}")
    config = CaseConfig(
        label_map=get_label_map(args.label_map), metrics=metrics,
        policy=EdgeCasePolicy(distance_cap_mm=args.distance_cap_mm), max_voxels=args.max_voxels,
    )
    workers = resolve_workers(args.workers)
    mode = args.mode
    if mode == "auto":
        if args.predictions is not None:
            mode = "folder"
        elif (args.input_root / "predictions.json").is_file():
            mode = "grand-challenge"
        else:
            raise EvaluationError(
                f"give --predictions DIR (folder mode) or provide {args.input_root / 'predictions.json'}"
            )
    if mode == "folder":
        if args.predictions is None or args.ground_truth is None or args.output is None:
            raise EvaluationError("folder mode needs --predictions, --ground-truth and --output")
        check_writable_dir(args.output)
        inputs = FolderInputs(args.predictions, args.ground_truth, args.output,
                              args.koos_predictions, args.koos_truth)
        return evaluate_folder(inputs, config, workers=workers, progress=not args.no_progress)
    paths = GrandChallengeInputs(
        input_root=args.input_root,
        ground_truth=args.ground_truth or GrandChallengeInputs.ground_truth,
        output=args.output or GrandChallengeInputs.output,
    )
    check_writable_dir(paths.output)
    return evaluate_grand_challenge(paths, config, workers=workers, progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    return run_cli("crossmoda-evaluate", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    check_environment()
    try:
        data = run(args)
    except EvaluationError as err:
        logger.error("no evaluation possible: %s", err)
        return EXIT_USAGE
    logger.info("%d cases scored; missing %s; %d errors", len(data["case"]), data["missing"],
                len(data["errors"]))
    for error in data["errors"]:
        logger.warning("%s: %s", error.get("case") or error.get("file"), error["error"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
