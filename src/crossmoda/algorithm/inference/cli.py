"""``crossmoda-algorithm``: segment VS + cochleas and grade Koos on hrT2 folders or GC jobs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from crossmoda.algorithm.inference.runner import (
    Mode,
    RunSummary,
    detect_mode,
    run_folder,
    run_grand_challenge,
)
from crossmoda.core.errors import CrossmodaError

__all__ = ["AlgorithmConfig", "resolve_model_dir", "run_algorithm", "main"]

logger = logging.getLogger(__name__)

GC_MODEL_DIR = Path("/opt/ml/model")


@dataclass
class AlgorithmConfig:
    """Resolved configuration of one run (written into the outputs' provenance)."""

    input: Path
    output: Path
    model: Path
    mode: str
    device: str
    tta: bool
    cochlea_refine_mm: float | None = None
    """Overrides the model's post-processing setting when given."""


def resolve_model_dir(model: Path | None, name: str = "adapted") -> Path:
    """``--model`` if given, else ``/opt/ml/model`` when it holds a model, else the shipped model."""
    if model is not None:
        return model
    if (GC_MODEL_DIR / "model.json").is_file():
        return GC_MODEL_DIR
    from crossmoda.algorithm.model.shipped import shipped_model_dir

    return shipped_model_dir(name)


def run_algorithm(
    input_dir: Path, output_dir: Path, model_dir: Path | None = None, mode: Mode = "auto",
    device: str = "auto", tta: bool = False, cochlea_refine_mm: float | None = None,
) -> RunSummary:
    """Load the model once and predict every case of ``input_dir`` into ``output_dir``, in the
    file layout of the model's task (its label map: 2022 or 2023)."""
    from crossmoda.algorithm.inference.layout import layout_for
    from crossmoda.algorithm.inference.predictor import make_case_predictor
    from crossmoda.algorithm.model.spec import read_model_json

    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: input folder not found")
    resolved_mode = detect_mode(input_dir) if mode == "auto" else mode
    model = resolve_model_dir(model_dir)
    predictor, device_used = make_case_predictor(model, device=device, tta=tta,
                                                 cochlea_refine_mm=cochlea_refine_mm)
    config = AlgorithmConfig(input_dir, output_dir, model, resolved_mode, device_used, tta, cochlea_refine_mm)
    layout = layout_for(read_model_json(model)[0].label_map)
    logger.info("mode %s, model %s (%s), device %s", resolved_mode, model, layout.task, device_used)
    if resolved_mode == "grand-challenge":
        return run_grand_challenge(input_dir, output_dir, predictor, config, layout)
    return run_folder(input_dir, output_dir, predictor, config, layout)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; exit status 1 when any case failed (listed on stderr)."""
    parser = argparse.ArgumentParser(prog="crossmoda-algorithm", description=__doc__)
    parser.add_argument("--input", type=Path, default=Path("/input"), help="input folder (default /input)")
    parser.add_argument("--output", type=Path, default=Path("/output"), help="output folder")
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder (default: /opt/ml/model if present, else the shipped model)")
    parser.add_argument("--mode", choices=["auto", "folder", "grand-challenge"], default="auto")
    parser.add_argument("--device", default=os.environ.get("CROSSMODA_DEVICE", "auto"),
                        help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--tta", action="store_true", help="test-time flip augmentation")
    parser.add_argument("--cochlea-refine-mm", type=float, default=None,
                        help="cochlea refinement distance in mm, 0 to switch it off (default: the model's)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = run_algorithm(args.input, args.output, args.model, args.mode, args.device, args.tta,
                                args.cochlea_refine_mm)
    except (FileNotFoundError, ValueError, CrossmodaError) as err:
        logger.error("%s", err)
        return 2
    if summary.failures:
        logger.error("%d case(s) failed:\n%s", len(summary.failures),
                     "\n".join(f"  {c}: {m}" for c, m in summary.failures.items()))
        return 1
    if not summary.cases:
        logger.error("no case was processed")
        return 1
    logger.info("%d case(s) written to %s", len(summary.cases), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
