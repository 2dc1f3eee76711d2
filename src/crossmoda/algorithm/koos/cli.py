"""Command line of the Koos grader.

``crossmoda-train koos RUN --data DATA`` dispatches to :func:`add_koos_parser` /
:func:`run_koos`; ``crossmoda-koos`` offers the same as ``crossmoda-koos train`` plus
``crossmoda-koos predict`` (grade a folder of label maps with a saved model).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from crossmoda.algorithm.koos.anatomy import FrameConfig
from crossmoda.core.cli import (
    EXIT_OK,
    UsageError,
    check_environment,
    check_writable_dir,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
    setup_logging,
)

__all__ = [
    "add_koos_parser", "folds_arg", "run_koos", "predict_folder", "build_parser", "run_train_subcommand",
    "main",
]

logger = logging.getLogger(__name__)


def add_koos_parser(subparsers: Any, name: str = "koos") -> argparse.ArgumentParser:
    """Add the ``koos`` training sub-command to an ``argparse`` sub-parser collection."""
    from crossmoda.algorithm.koos.model import FEATURE_SETS

    p: argparse.ArgumentParser = subparsers.add_parser(
        name, help="fit the Koos grader on the source cases", description=(
            "Fit the Koos grader (features -> ordinal logistic regression) on the source cases; "
            "writes RUN/koos/koos_model.json, per-case feature CSVs and koos_summary.json."))
    p.add_argument("run", type=Path, help="run folder (outputs go to RUN/koos unless --output)")
    p.add_argument("--data", type=Path, required=True, help="data set root (source_training/, ...)")
    p.add_argument("--output", type=Path, default=None, help="output folder (default RUN/koos)")
    p.add_argument("--labels", type=Path, default=None,
                   help="segmenter predictions on the source pseudo-hrT2 (<case>_Label, labels 1-4); "
                        "default RUN/koos_inputs/source_labels if present, else ground truth")
    p.add_argument("--images", type=Path, default=None,
                   help="pseudo-hrT2 of the source cases (<case>_hrT2); default RUN/koos_inputs/"
                        "source_images if present, else the phantom's paired truth")
    p.add_argument("--validation-labels", type=Path, default=None,
                   help="segmenter predictions on the validation hrT2 (default: ground truth)")
    p.add_argument("--features", choices=[*sorted(FEATURE_SETS), "auto"], default="auto",
                   help="feature set; auto: the lowest cross-validated MA-MAE on the training cases")
    p.add_argument("--C", type=positive_float, default=1.0, help="inverse L2 strength (default 1)")
    p.add_argument("--folds", type=folds_arg, default=5, help="cross-validation folds, >= 2 (0: none)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--workers", type=positive_int, default=1, help="feature extraction processes")
    p.add_argument("--no-calibrate-porus", action="store_true",
                   help="keep the default porus fraction even when meta/ has porus positions")
    p.set_defaults(func=run_koos)
    return p


def _default_dir(run: Path, given: Path | None, name: str) -> Path | None:
    if given is not None:
        return given
    candidate = run / "koos_inputs" / name
    return candidate if candidate.is_dir() else None


def folds_arg(text: str) -> int:
    """argparse type of ``--folds``: 0 (no cross-validation) or an integer >= 2."""
    value = non_negative_int(text)
    if value == 1:
        raise argparse.ArgumentTypeError("'1' is not a number of folds (0 for none, or >= 2)")
    return value


def run_koos(args: argparse.Namespace) -> int:
    """Run the ``koos`` sub-command from parsed arguments; 0 on success.

    Raises:
        UsageError: a missing data or input folder, an unwritable output folder.
        CrossmodaError: bad input found while training (a one-line message from :func:`run_cli`).
    """
    from crossmoda.algorithm.koos.train import KoosTrainConfig, train_koos

    run = Path(args.run)
    if not Path(args.data).is_dir():
        raise UsageError("data folder not found (or not a folder)", args.data)
    for option, folder in (("--labels", args.labels), ("--images", args.images),
                           ("--validation-labels", args.validation_labels)):
        if folder is not None and not Path(folder).is_dir():
            raise UsageError(f"{option}: folder not found (or not a folder)", folder)
    check_writable_dir(args.output or run / "koos")
    cfg = KoosTrainConfig(
        data=Path(args.data), output=args.output or run / "koos",
        labels=_default_dir(run, args.labels, "source_labels"),
        images=_default_dir(run, args.images, "source_images"),
        validation_labels=args.validation_labels, feature_set=args.features, C=args.C,
        folds=args.folds, seed=args.seed, workers=args.workers,
        calibrate_porus=not args.no_calibrate_porus, frame=FrameConfig(),
    )
    summary = train_koos(cfg)
    for key in ("cross_validation", "validation"):
        if key in summary:
            m = summary[key]
            logger.info("%s: MA-MAE %.3f, macro F1 %.3f, accuracy %.3f (n=%d)", key, m["MA_MAE"],
                        m["macro_F1"], m["accuracy"], m["n_cases"])
    logger.info("model written to %s", Path(cfg.output) / "koos_model.json")
    return 0


def predict_folder(
    model_path: Path, labels: Path, output_csv: Path, aux: Path | None = None, images: Path | None = None,
    workers: int = 1,
) -> dict[str, tuple[int, list[float]]]:
    """Grade every ``<case>_Label`` of ``labels`` (with ``<case>_Aux`` from ``aux`` and
    ``<case>_hrT2`` from ``images`` when given); write features + predictions to ``output_csv``."""
    from crossmoda.algorithm.koos.model import load_koos_model
    from crossmoda.algorithm.koos.tables import KoosCase, feature_rows, prediction_cases, write_feature_csv
    from crossmoda.algorithm.koos.train import predict_cases

    model = load_koos_model(model_path)
    cases = prediction_cases(labels, images, {})
    if aux is not None:
        cases = [KoosCase(c.case, c.labels, aux / f"{c.case}_Aux.nii.gz", c.image) for c in cases]
    rows = feature_rows(cases, model.frame, workers=workers)
    preds = predict_cases(model, rows)
    write_feature_csv(output_csv, rows, preds)
    return preds


def build_parser() -> argparse.ArgumentParser:
    """The ``crossmoda-koos`` argument parser (``train`` and ``predict``)."""
    parser = argparse.ArgumentParser(prog="crossmoda-koos", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    add_koos_parser(sub, name="train")
    pred = sub.add_parser("predict", help="grade a folder of label maps with a saved model")
    pred.add_argument("--model", type=Path, required=True, help="koos_model.json")
    pred.add_argument("--labels", type=Path, required=True,
                      help="<case>_Label files (1 VS, 2 cochlea [+3 brainstem, 4 cerebellum])")
    pred.add_argument("--aux", type=Path, default=None, help="folder of <case>_Aux files (brainstem 1)")
    pred.add_argument("--images", type=Path, default=None, help="folder of <case>_hrT2 files")
    pred.add_argument("--output", type=Path, required=True, help="CSV of features and predictions")
    pred.add_argument("--workers", type=positive_int, default=1)
    return parser


def _predict(args: argparse.Namespace) -> int:
    from crossmoda.algorithm.koos.model import load_koos_model

    for option, folder in (("--labels", args.labels), ("--aux", args.aux), ("--images", args.images)):
        if folder is not None and not Path(folder).is_dir():
            raise UsageError(f"{option}: folder not found (or not a folder)", folder)
    if not Path(args.model).is_file():
        raise UsageError("--model: Koos model file not found", args.model)
    try:
        load_koos_model(args.model)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"--model: not a Koos model ({err})", args.model) from None
    if Path(args.output).is_dir():
        raise UsageError("--output is a folder, expected a CSV file name", args.output)
    check_writable_dir(Path(args.output).parent, "folder of --output")
    preds = predict_folder(args.model, args.labels, args.output, args.aux, args.images, args.workers)
    logger.info("graded %d cases into %s", len(preds), args.output)
    return EXIT_OK


def run_train_subcommand(argv: list[str]) -> int:
    """``crossmoda-train koos RUN --data DATA ...`` (the grader's training under ``crossmoda-train``)."""
    def body() -> int:
        parser = argparse.ArgumentParser(prog="crossmoda-train")
        add_koos_parser(parser.add_subparsers(dest="stage", required=True))
        args = parser.parse_args(argv)
        setup_logging(fmt="%(asctime)s %(levelname)s %(name)s: %(message)s")
        check_environment()
        return int(args.func(args))

    return run_cli("crossmoda-train", body, usage_errors=(FileNotFoundError,))


def main(argv: list[str] | None = None) -> int:
    """``crossmoda-koos train RUN --data DATA ...`` or ``crossmoda-koos predict ...``; exit status 2
    for a bad command-line value, folder or model file."""
    def body() -> int:
        args = build_parser().parse_args(argv)
        setup_logging(args.verbose, fmt="%(asctime)s %(levelname)s %(name)s: %(message)s")
        check_environment()
        if args.command == "predict":
            return _predict(args)
        return int(args.func(args))

    return run_cli("crossmoda-koos", body, usage_errors=(FileNotFoundError,))


if __name__ == "__main__":
    raise SystemExit(main())
