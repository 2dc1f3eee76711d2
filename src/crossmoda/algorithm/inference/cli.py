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
from crossmoda.algorithm.model.shipped import SHIPPED_MODELS, model_from
from crossmoda.algorithm.model.spec import ModelError
from crossmoda.core.cli import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    check_environment,
    check_writable_dir,
    non_negative_float,
    run_cli,
    setup_logging,
)

__all__ = [
    "AlgorithmConfig",
    "ModelChoice",
    "choose_model",
    "resolve_model_dir",
    "run_algorithm",
    "build_parser",
    "device_from",
    "main",
]

logger = logging.getLogger(__name__)

GC_MODEL_DIR = Path("/opt/ml/model")
"""Where grand-challenge extracts an algorithm's uploaded model (used when it holds a model.json)."""
DEVICE_ENV = "CROSSMODA_DEVICE"
MODEL_ENV = "CROSSMODA_MODEL"
"""A shipped model name or a model folder; overrides /opt/ml/model."""
DEFAULT_MODEL_ENV = "CROSSMODA_DEFAULT_MODEL"
"""The model used when nothing else names one (set by the algorithm image's ``MODEL`` build
argument); /opt/ml/model overrides it, so an uploaded grand-challenge model is still used."""
DEFAULT_MODEL = "adapted"


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
    model_source: str | None = None
    """What chose the model (see :func:`choose_model`)."""


@dataclass(frozen=True)
class ModelChoice:
    """The model folder of a run and what chose it (``--model``, ``$CROSSMODA_MODEL``,
    ``/opt/ml/model``, ``$CROSSMODA_DEFAULT_MODEL`` or ``default``)."""

    path: Path
    source: str


def choose_model(given: str | Path | None, default: str = DEFAULT_MODEL) -> ModelChoice:
    """The model of a run, first found of: ``given`` (``--model``: a shipped name or a folder),
    ``$CROSSMODA_MODEL`` (name or folder), ``/opt/ml/model`` when it holds a ``model.json``
    (grand-challenge), ``$CROSSMODA_DEFAULT_MODEL`` (the image's built-in choice), the shipped
    model ``default``.

    Raises:
        UsageError: the chosen value is no folder and no shipped model name (the message names
            the option or variable and lists the shipped names), or a shipped model not installed.
    """
    env = os.environ.get(MODEL_ENV, "").strip()
    image_default = os.environ.get(DEFAULT_MODEL_ENV, "").strip()
    if given is not None and str(given).strip():
        value, source = given, "--model"
    elif env:
        value, source = env, f"${MODEL_ENV}"
    elif (GC_MODEL_DIR / "model.json").is_file():
        return ModelChoice(GC_MODEL_DIR, str(GC_MODEL_DIR))
    elif image_default:
        value, source = image_default, f"${DEFAULT_MODEL_ENV}"
    else:
        value, source = default, "default"
    try:
        return ModelChoice(model_from(value), source)
    except ModelError as err:
        raise UsageError(f"{source}: {err}") from None


def resolve_model_dir(model: str | Path | None, name: str = DEFAULT_MODEL) -> Path:
    """The model folder :func:`choose_model` picks (``name``: the shipped model used last)."""
    return choose_model(model, name).path


def run_algorithm(
    input_dir: Path, output_dir: Path, model_dir: str | Path | None = None, mode: Mode = "auto",
    device: str = "auto", tta: bool = False, cochlea_refine_mm: float | None = None,
) -> RunSummary:
    """Load the model once and predict every case of ``input_dir`` into ``output_dir``, in the
    file layout of the model's task (its label map: 2022 or 2023). ``model_dir``: a folder or a
    shipped model name; ``None`` chooses as :func:`choose_model`.

    Raises:
        UsageError: the input folder is missing, the output folder cannot be written, the model
            is no folder and no shipped model name.
        ModelError: the model folder is missing or invalid (the message says why).
        DeviceError: ``device`` is not a device of this machine.
    """
    from crossmoda.algorithm.inference.layout import layout_for
    from crossmoda.algorithm.inference.predictor import make_case_predictor
    from crossmoda.algorithm.model.spec import read_model_json

    if not input_dir.is_dir():
        raise UsageError("input folder not found (or not a folder)", input_dir)
    check_writable_dir(output_dir)
    resolved_mode = detect_mode(input_dir) if mode == "auto" else mode
    choice = choose_model(model_dir)
    model = choice.path
    label_map = read_model_json(model)[0].label_map
    logger.info("model %s (chosen by %s), label map %s", model, choice.source, label_map)
    predictor, device_used = make_case_predictor(model, device=device, tta=tta,
                                                 cochlea_refine_mm=cochlea_refine_mm)
    config = AlgorithmConfig(input_dir, output_dir, model, resolved_mode, device_used, tta, cochlea_refine_mm,
                             choice.source)
    layout = layout_for(label_map)
    logger.info("mode %s, model %s (%s), device %s", resolved_mode, model, layout.task, device_used)
    if resolved_mode == "grand-challenge":
        return run_grand_challenge(input_dir, output_dir, predictor, config, layout)
    return run_folder(input_dir, output_dir, predictor, config, layout)


def build_parser() -> argparse.ArgumentParser:
    """The ``crossmoda-algorithm`` argument parser."""
    parser = argparse.ArgumentParser(prog="crossmoda-algorithm", description=__doc__)
    parser.add_argument("--input", type=Path, default=Path("/input"), help="input folder (default /input)")
    parser.add_argument("--output", type=Path, default=Path("/output"), help="output folder")
    parser.add_argument("--model", default=None,
                        help=f"shipped model name ({', '.join(SHIPPED_MODELS)}) or model "
                             f"folder (default: ${MODEL_ENV}, else /opt/ml/model if it holds a "
                             f"model, else ${DEFAULT_MODEL_ENV}, else {DEFAULT_MODEL})")
    parser.add_argument("--mode", choices=["auto", "folder", "grand-challenge"], default="auto")
    parser.add_argument("--device", default=None,
                        help=f"auto, cpu, cuda or cuda:N (default: ${DEVICE_ENV}, else auto)")
    parser.add_argument("--tta", action="store_true", help="test-time flip augmentation")
    parser.add_argument("--cochlea-refine-mm", type=non_negative_float, default=None,
                        help="cochlea refinement distance in mm, 0 to switch it off (default: the model's)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def device_from(given: str | None) -> str:
    """The device name to use: ``--device``, else ``$CROSSMODA_DEVICE``, else ``auto``; checked
    against this machine so a bad name fails before anything is loaded.

    Raises:
        UsageError: naming the option or the environment variable.
    """
    from crossmoda.algorithm.model.network import DeviceError, resolve_device

    env = os.environ.get(DEVICE_ENV, "").strip()
    name, source = (given, "--device") if given is not None else (env or "auto", f"${DEVICE_ENV}")
    try:
        resolve_device(name)
    except DeviceError as err:
        raise UsageError(f"{source}: {err.problem}") from None
    return name


def main(argv: list[str] | None = None) -> int:
    """Console entry point: 0 when every case was written, 1 when any case failed (listed on
    stderr), 2 for a bad command-line or environment value, model folder or output folder."""
    return run_cli("crossmoda-algorithm", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, fmt="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_environment()
    device = device_from(args.device)
    summary = run_algorithm(args.input, args.output, args.model, args.mode, device, args.tta,
                            args.cochlea_refine_mm)
    if summary.failures:
        logger.error("%d case(s) failed:\n%s", len(summary.failures),
                     "\n".join(f"  {c}: {m}" for c, m in summary.failures.items()))
        return EXIT_FAILED
    if not summary.cases:
        logger.error("no case was processed")
        return EXIT_FAILED
    logger.info("%d case(s) written to %s", len(summary.cases), args.output)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
