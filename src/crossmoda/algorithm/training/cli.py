"""``crossmoda-train``: train the VS/cochlea segmenter without hrT2 labels.

Sub-commands (each resumes: finished stages are skipped, interrupted ones resume)::

    crossmoda-train all DATA --output RUN [--config JSON] [--device cpu|cuda|auto]
                                          [--no-adaptation | --supervised] [--seed N]
    crossmoda-train prepare|translate|segment|self-train DATA --output RUN ...
    crossmoda-train koos RUN --data DATA ...   (the Koos grader's, see ``crossmoda-train koos --help``)

Multi-GPU: ``torchrun --nproc_per_node=N -m crossmoda.algorithm.training.cli segment DATA --output RUN``
(any stage or ``all``; rank 0 alone writes, validates and logs at INFO).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from crossmoda.algorithm.training.config import TrainConfig, load_config
from crossmoda.core.cli import (
    EXIT_OK,
    UsageError,
    check_environment,
    check_writable_dir,
    env_int,
    non_negative_int,
    positive_int,
    run_cli,
    setup_logging,
)

__all__ = ["train", "build_parser", "resolve_config", "main"]

logger = logging.getLogger(__name__)

STAGES = ("all", "prepare", "translate", "segment", "self-train")


def train(stage: str, data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """Run ``stage`` (or the whole chain) of the training for ``cfg``; returns the stage summary.

    Raises:
        FileNotFoundError: missing data folder or an earlier stage not run yet.
    """
    from crossmoda.algorithm.model.network import resolve_device
    from crossmoda.algorithm.training.distributed import close_distributed, init_distributed

    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: data folder not found")
    # under torchrun: the process group before the first step, so rank 0's writes are awaited;
    # a rank that fails exits without it (torchrun then stops the others)
    init_distributed(resolve_device(cfg.device))
    result = _train(stage, data_dir, run_dir, cfg)
    close_distributed()
    return result


def _train(stage: str, data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    from crossmoda.algorithm.model.network import resolve_device
    from crossmoda.algorithm.training import chain
    from crossmoda.algorithm.training.stages import on_main, stage_done

    if stage == "all":
        return chain.run_all(data_dir, run_dir, cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    from crossmoda.core.provenance import provenance, write_json_atomic

    chain.resolve_label_map(data_dir, run_dir, cfg)

    # one stage alone: its resolved configuration beside the run's (``config.json`` is the chain's)
    on_main(lambda: write_json_atomic(run_dir / f"config_{stage.replace('-', '_')}.json",
                                      {**cfg.to_dict(), "provenance": provenance("crossmoda-train", cfg)}))
    chain.run_prepare(data_dir, run_dir, cfg)
    device = resolve_device(cfg.device)
    if stage == "prepare":
        return {"prepared": str(run_dir / "data")}
    if stage == "translate":
        return chain.run_translate(run_dir, cfg, device)
    if stage == "segment":
        if cfg.mode == "adapted" and stage_done(run_dir / "translate") is None:
            raise FileNotFoundError(f"{run_dir}: run `crossmoda-train translate` first")
        return chain.run_segment(data_dir, run_dir, cfg, device)
    if stage_done(run_dir / "segment") is None:
        raise FileNotFoundError(f"{run_dir}: run `crossmoda-train segment` first")
    return chain.run_self_train(data_dir, run_dir, cfg, device)


def build_parser() -> argparse.ArgumentParser:
    """The ``crossmoda-train`` argument parser (the ``koos`` sub-command has its own)."""
    parser = argparse.ArgumentParser(
        prog="crossmoda-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("data", type=Path, help="data set folder (crossMoDA layout, e.g. a phantom)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="run folder")
    parser.add_argument("--config", type=Path, default=None, help="JSON with (partial) TrainConfig values")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: config, cpu)")
    parser.add_argument("--seed", type=non_negative_int, default=None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-adaptation", action="store_true", help="baseline: segmenter trained on ceT1")
    mode.add_argument(
        "--supervised",
        action="store_true",
        help="upper bound: trained on target hrT2 with paired-truth labels (phantom only)",
    )
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads (1 is fastest on a busy shared CPU; default: torch's)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The configuration of ``--config`` with the command-line overrides, its device checked.

    Raises:
        UsageError: unreadable or invalid ``--config``, or a device this machine lacks.
    """
    from crossmoda.algorithm.model.network import DeviceError, resolve_device

    overrides: dict[str, Any] = {"device": args.device, "seed": args.seed}
    if args.no_adaptation:
        overrides["mode"] = "no_adaptation"
    elif args.supervised:
        overrides["mode"] = "supervised"
    if args.config is not None and not args.config.is_file():
        raise UsageError("--config: file not found", args.config)
    try:
        cfg = load_config(args.config, overrides)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise UsageError(f"--config: invalid training configuration ({err})", args.config) from None
    try:
        resolve_device(cfg.device)
    except DeviceError as err:
        source = "--device" if args.device is not None else "device in --config"
        raise UsageError(f"{source}: {err.problem}") from None
    return cfg


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``crossmoda-train koos ...`` goes to the Koos grader's own parser);
    exit status 2 for a bad command-line value, configuration, data or run folder."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["koos"]:
        from crossmoda.algorithm.koos.cli import run_train_subcommand

        return run_train_subcommand(argv)
    return run_cli("crossmoda-train", lambda: _main(argv), usage_errors=(FileNotFoundError,))


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, fmt="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from crossmoda.algorithm.training.distributed import quiet_other_ranks

    quiet_other_ranks()
    check_environment()
    env_int("LOCAL_RANK", 0, minimum=0)
    cfg = resolve_config(args)
    if not args.data.is_dir():
        raise UsageError("data folder not found (or not a folder)", args.data)
    check_writable_dir(args.output, "run folder")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    result = train(args.stage, args.data, args.output, cfg)
    logger.info("%s finished: %s", args.stage, json.dumps(result, default=str)[:2000])
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
