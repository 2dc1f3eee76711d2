"""Koos grader benchmark on a phantom data set: MA-MAE, macro F1, confusion matrix, ablation.

Trains on the ``source_training`` cases (features from the labels given: ground truth by
default, or segmenter predictions with ``--source-labels``) and tests on the ``test`` split
(ground-truth ``_Label`` + ``_Aux`` by default, or segmenter predictions with ``--test-labels``).
Reports, for every feature set (geometry only, geometry + image, image only), the test MA-MAE
(``crossmoda.evaluation.koos``, cross-checked against imbalanced-learn), macro F1, accuracy and
the confusion matrix, plus the porus estimator's error against ``meta/<case>.json``.

Usage::

    crossmoda-phantom generate /tmp/koos_data --preset small --source 80 --target 0 \\
        --validation 0 --test 48 --seed 7
    .venv/bin/python benchmarks/bench_koos.py --data /tmp/koos_data --output /tmp/koos_bench
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from crossmoda.algorithm.koos.anatomy import FrameConfig
from crossmoda.algorithm.koos.model import FEATURE_SETS, fit_koos, save_koos_model
from crossmoda.algorithm.koos.tables import (
    KoosCase,
    feature_rows,
    phantom_cases,
    prediction_cases,
    write_feature_csv,
)
from crossmoda.algorithm.koos.train import calibrate_frame, cross_validate, porus_errors, predict_cases
from crossmoda.core.koos import read_koos_csv
from crossmoda.core.provenance import provenance, write_json_atomic
from crossmoda.evaluation.koos import koos_metrics

logger = logging.getLogger("bench_koos")


def _cases(data: Path, split: str, labels: Path | None, images: Path | None) -> list[KoosCase]:
    if labels is None:
        cases = phantom_cases(data, split, image_dir=images if split == "source_training" else None)
    else:
        table = (data / "infos_source_training.csv", "crossmoda_name", "koos") if split == "source_training" \
            else (data / f"{split}_labels" / "koos.csv", "case", "class")
        grades = read_koos_csv(*table)
        cases = prediction_cases(labels, images if images is not None else data / split, grades)
    return [c for c in cases if c.grade is not None]


def perturb_cases(cases: list[KoosCase], out_dir: Path, seed: int) -> list[KoosCase]:
    """Copies of ``cases`` with segmentation-like errors: per case, the VS and the brainstem are
    each dilated or eroded by one voxel (6-neighbourhood) or left alone, with equal chance."""
    from scipy import ndimage

    from crossmoda.core.io import read_array, write_image

    rng = np.random.default_rng(seed)
    out: list[KoosCase] = []
    for c in cases:
        labels, geo = read_array(c.labels)
        aux = read_array(c.aux)[0] if c.aux is not None else np.zeros_like(labels)
        vs, bs = labels == 1, aux == 1
        moves = rng.integers(-1, 2, size=2)
        for mask, move in ((vs, moves[0]), (bs, moves[1])):
            if move > 0:
                mask |= ndimage.binary_dilation(mask)
            elif move < 0:
                mask &= ndimage.binary_erosion(mask)
        new_labels = np.where(labels == 1, 0, labels).astype(np.uint8)
        new_labels[vs] = 1
        new_aux = np.where(aux == 1, 0, aux).astype(np.uint8)
        new_aux[bs & ~vs] = 1
        lab_path = write_image(new_labels, out_dir / f"{c.case}_Label.nii.gz", geo)
        aux_path = write_image(new_aux, out_dir / f"{c.case}_Aux.nii.gz", geo)
        out.append(KoosCase(c.case, lab_path, aux_path, c.image, c.grade))
    return out


def _imblearn_mamae(y: list[int], p: list[int]) -> float | None:
    try:
        from imblearn.metrics import macro_averaged_mean_absolute_error
    except ImportError:
        return None
    if not set(p) <= set(y):
        return None  # imbalanced-learn fails when a predicted class is absent from the truth
    return float(macro_averaged_mean_absolute_error(y, p))


def predict_test(model_dir: Path, data: Path, out_dir: Path, device: str = "cpu") -> Path:
    """``<case>_Label`` + ``<case>_Aux`` of a model folder on every ``data/test`` hrT2, through
    :func:`crossmoda.algorithm.inference.predict.predict_case` (what the container runs); existing
    predictions are kept."""
    from tqdm import tqdm

    from crossmoda.algorithm.inference.predict import load_model, predict_case
    from crossmoda.core.cases import discover_cases
    from crossmoda.core.io import read_image, write_image

    model = load_model(model_dir, device=device)
    for case, path in tqdm(discover_cases(data / "test", "hrT2").files.items(), desc="predict test"):
        if (out_dir / f"{case}_Aux.nii.gz").is_file():
            continue
        pred = predict_case(read_image(path), model)
        write_image(pred.label_image(), out_dir / f"{case}_Label.nii.gz")
        write_image(pred.aux_image(), out_dir / f"{case}_Aux.nii.gz")
    return out_dir


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; returns the results (also written to ``OUTPUT/bench_koos.json``)."""
    data, out = Path(args.data), Path(args.output)
    if args.model is not None and args.test_labels is None:
        args.test_labels = predict_test(args.model, data, out / "test_predictions")
    train_cases = _cases(data, "source_training", args.source_labels, args.source_images)
    test_cases = _cases(data, "test", args.test_labels, None)
    logger.info("%d training cases, %d test cases", len(train_cases), len(test_cases))
    frame, calibration = FrameConfig(), {"calibrated": False}
    if not args.no_calibrate and (data / "meta").is_dir():
        frame, calibration = calibrate_frame(train_cases, data / "meta", FrameConfig(),
                                             limit=len(train_cases))
    t0 = time.perf_counter()
    train_rows = feature_rows(train_cases, frame, workers=args.workers, desc="features (train)")
    t1 = time.perf_counter()
    test_rows = feature_rows(test_cases, frame, workers=args.workers, desc="features (test)")
    t2 = time.perf_counter()
    perturbed_rows = []
    if args.perturb:
        perturbed = perturb_cases(test_cases, out / "perturbed_test", args.seed)
        perturbed_rows = feature_rows(perturbed, frame, workers=args.workers, desc="features (perturbed)")
    results: dict[str, Any] = {
        "n_train": len(train_rows), "n_test": len(test_rows),
        "train_grades": {str(g): sum(r.grade == g for r in train_rows) for g in (1, 2, 3, 4)},
        "test_grades": {str(g): sum(r.grade == g for r in test_rows) for g in (1, 2, 3, 4)},
        "labels": {"train": "predicted" if args.source_labels else "ground truth",
                   "test": "predicted" if args.test_labels else "ground truth"},
        "porus_calibration": calibration,
        "seconds_per_case_features": (t2 - t0) / max(len(train_rows) + len(test_rows), 1),
        "feature_sets": {},
    }
    if (data / "meta").is_dir():
        results["porus_estimator_test"] = porus_errors(test_rows, data / "meta")
    reference = {r.case: r.grade for r in test_rows}
    for name, features in FEATURE_SETS.items():
        model = fit_koos([r.features for r in train_rows], [int(r.grade or 0) for r in train_rows],
                         feature_names=features, C=args.C, frame=frame, info={"feature_set": name})
        preds = predict_cases(model, test_rows)
        metrics = koos_metrics(reference, {c: g for c, (g, _) in preds.items()}).metrics
        y = [int(reference[c] or 0) for c in preds]
        p = [g for g, _ in preds.values()]
        metrics["MA_MAE_imblearn"] = _imblearn_mamae(y, p)
        cv = cross_validate(train_rows, features, args.C, 5, args.seed)
        metrics["train_cv_MA_MAE"] = koos_metrics(
            {r.case: r.grade for r in train_rows}, {c: g for c, (g, _) in cv.items()}).metrics["MA_MAE"]
        if perturbed_rows:
            noisy = predict_cases(model, perturbed_rows)
            metrics["perturbed_test"] = koos_metrics(reference, {c: g for c, (g, _) in noisy.items()}).metrics
        results["feature_sets"][name] = metrics
        slug = name.replace("+", "_")
        write_feature_csv(out / f"features_test_{slug}.csv", test_rows, preds)
        save_koos_model(model, out / f"koos_model_{slug}.json", vars(args))
    write_feature_csv(out / "features_train.csv", train_rows)
    results["seconds_features_train"] = t1 - t0
    results["seconds_features_test"] = t2 - t1
    results["provenance"] = provenance("benchmarks/bench_koos.py", vars(args))
    write_json_atomic(out / "bench_koos.json", results)
    return results


def _print(results: dict[str, Any]) -> None:
    lines = [f"train {results['n_train']} cases {results['train_grades']} ({results['labels']['train']}), "
             f"test {results['n_test']} cases {results['test_grades']} ({results['labels']['test']})"]
    if "porus_estimator_test" in results:
        lines.append(f"porus estimator (test): {results['porus_estimator_test']}")
    lines.append(f"porus calibration: {results['porus_calibration']}")
    lines.append(f"{'feature set':<16}{'MA-MAE':>8}{'imblearn':>10}{'macroF1':>9}{'acc':>7}"
                 f"{'trainCV':>9}  confusion")
    for name, m in results["feature_sets"].items():
        imb = m["MA_MAE_imblearn"]
        lines.append(f"{name:<16}{m['MA_MAE']:>8.3f}{'' if imb is None else f'{imb:.3f}':>10}"
                     f"{m['macro_F1']:>9.3f}{m['accuracy']:>7.3f}{m['train_cv_MA_MAE']:>9.3f}  "
                     f"{m['confusion_matrix']}")
    for name, m in results["feature_sets"].items():
        if "perturbed_test" in m:
            q = m["perturbed_test"]
            lines.append(f"{name} with +-1 voxel VS/brainstem errors: MA-MAE {q['MA_MAE']:.3f}, "
                         f"macro F1 {q['macro_F1']:.3f}, confusion {q['confusion_matrix']}")
    lines.append(f"feature extraction: {results['seconds_per_case_features']:.2f} s/case")
    logger.info("\n%s", "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="phantom data set root")
    parser.add_argument("--output", type=Path, required=True, help="results folder")
    parser.add_argument("--source-labels", type=Path, default=None,
                        help="segmenter predictions on the source pseudo-hrT2 (<case>_Label [+_Aux])")
    parser.add_argument("--source-images", type=Path, default=None, help="pseudo-hrT2 of the source cases")
    parser.add_argument("--test-labels", type=Path, default=None,
                        help="segmenter predictions on the test hrT2 (<case>_Label [+_Aux])")
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder: predict the test hrT2 with it (into OUTPUT/test_predictions)")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-calibrate", action="store_true", help="skip the porus calibration")
    parser.add_argument("--perturb", action="store_true",
                        help="also grade test labels with random one-voxel VS/brainstem dilations/erosions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _print(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
