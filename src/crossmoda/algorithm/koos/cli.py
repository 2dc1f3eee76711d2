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

__all__ = ["add_koos_parser", "run_koos", "predict_folder", "main"]

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
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength (default 1)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="feature extraction processes")
    p.add_argument("--no-calibrate-porus", action="store_true",
                   help="keep the default porus fraction even when meta/ has porus positions")
    p.set_defaults(func=run_koos)
    return p


def _default_dir(run: Path, given: Path | None, name: str) -> Path | None:
    if given is not None:
        return given
    candidate = run / "koos_inputs" / name
    return candidate if candidate.is_dir() else None


def run_koos(args: argparse.Namespace) -> int:
    """Run the ``koos`` sub-command from parsed arguments; 0 on success, 1 on bad input."""
    from crossmoda.algorithm.koos.train import KoosTrainConfig, train_koos
    from crossmoda.core.errors import CrossmodaError

    run = Path(args.run)
    cfg = KoosTrainConfig(
        data=Path(args.data), output=args.output or run / "koos",
        labels=_default_dir(run, args.labels, "source_labels"),
        images=_default_dir(run, args.images, "source_images"),
        validation_labels=args.validation_labels, feature_set=args.features, C=args.C,
        folds=args.folds, seed=args.seed, workers=args.workers,
        calibrate_porus=not args.no_calibrate_porus, frame=FrameConfig(),
    )
    try:
        summary = train_koos(cfg)
    except (FileNotFoundError, ValueError, CrossmodaError) as err:
        logger.error("%s", err)
        return 1
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


def main(argv: list[str] | None = None) -> int:
    """``crossmoda-koos train RUN --data DATA ...`` or ``crossmoda-koos predict ...``."""
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
    pred.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "predict":
        preds = predict_folder(args.model, args.labels, args.output, args.aux, args.images, args.workers)
        logger.info("graded %d cases into %s", len(preds), args.output)
        return 0
    return int(args.func(args))
