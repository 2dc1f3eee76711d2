"""``crossmoda-challenge``: the organiser's runner.

    crossmoda-challenge run --input TEST --ground-truth LABELS [--koos-truth CSV] \
        --team alpha=teams/alpha:1 --team beta=teams/beta:2 --output WORK [--time-limit S ...] \
        [--backend slurm --engine podman --cases-per-job K --gpus-per-job 1 --partition gpu]
    crossmoda-challenge export IMAGE --output algorithm.tar.gz [--model DIR --model-output model.tar.gz]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from crossmoda.challenge.config import ChallengeConfig, Limits, Scoring, parse_team
from crossmoda.challenge.slurm_backend import SlurmOptions
from crossmoda.core.cli import run_cli

__all__ = ["main", "build_parser"]

logger = logging.getLogger("crossmoda.challenge")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossmoda-challenge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run team images, score, rank and write the leaderboard")
    run.add_argument("--input", type=Path, required=True, help="test images (<case>_hrT2.nii.gz), mounted ro")
    run.add_argument("--ground-truth", type=Path, required=True, help="reference <case>_Label.nii.gz folder")
    run.add_argument("--koos-truth", type=Path, help="reference Koos table (case,class); omit to skip task 2")
    run.add_argument("--team", action="append", required=True, metavar="NAME=IMAGE",
                     help="a submission (repeat)")
    run.add_argument("--output", type=Path, required=True, help="work and report folder")
    lim = run.add_argument_group("platform rules")
    lim.add_argument("--time-limit", type=float, default=Limits.time_limit_s, help="seconds per team run")
    lim.add_argument("--memory", default=Limits.memory, help="memory limit, no swap (e.g. 16g)")
    lim.add_argument("--shm-size", default=Limits.shm_size, help="/dev/shm size")
    lim.add_argument("--tmp-size", default=Limits.tmp_size, help="size of the /tmp tmpfs")
    lim.add_argument("--cpus", type=float, help="CPU limit (default: none)")
    lim.add_argument("--pids-limit", type=int, default=Limits.pids_limit)
    lim.add_argument("--gpu", choices=("auto", "all", "none"), default="auto",
                     help="GPUs for the algorithms (auto: all when the host has an NVIDIA GPU)")
    lim.add_argument("--read-only-rootfs", action=argparse.BooleanOptionalAction, default=True,
                     help="read-only root file system with a writable /tmp tmpfs (default: on)")
    lim.add_argument("--output-size", default=Limits.output_size,
                     help="cap on a team's /output, enforced while copying it out (e.g. 2g)")
    lim.add_argument("--user", help="run the algorithms as this user (default: the image's user)")
    lim.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment (repeat)")
    be = run.add_argument_group("backend")
    be.add_argument("--backend", choices=("local", "slurm"), default="local",
                    help="local: this host's engine, one team after the other; slurm: sbatch jobs")
    be.add_argument("--engine", choices=("docker", "podman"), default="docker",
                    help="container CLI on the Slurm nodes")
    be.add_argument("--cases-per-job", type=int, help="split each team's cases into Slurm jobs of K")
    be.add_argument("--gpus-per-job", type=int, default=0, help="GPUs per Slurm job (--gres=gpu:N)")
    be.add_argument("--partition", help="Slurm partition")
    be.add_argument("--account", help="Slurm account")
    be.add_argument("--qos", help="Slurm QoS")
    be.add_argument("--sbatch-arg", action="append", default=[], help="extra sbatch argument (repeat)")
    be.add_argument("--poll", type=float, default=5.0, help="seconds between Slurm state queries")
    be.add_argument("--rerun", action="append", default=[], metavar="TEAM",
                    help="Slurm: submit this team's jobs again even if they finished (repeat)")
    sc = run.add_argument_group("scoring")
    sc.add_argument("--evaluation-image",
                    help="evaluate inside this image (default: local crossmoda-evaluate)")
    sc.add_argument("--ranking-image", help="rank inside this image (default: local crossmoda-rank)")
    sc.add_argument("--evaluation-arg", action="append", default=[], help="extra crossmoda-evaluate argument")
    sc.add_argument("--ranking-arg", action="append", default=[], help="extra crossmoda-rank argument")
    sc.add_argument("--keep-partial", action="store_true",
                    help="score what a crashed run wrote (default: a crashed run is scored as missing)")

    exp = sub.add_parser("export", help="save an image (and a model folder) for a grand-challenge upload")
    exp.add_argument("image", help="image reference")
    exp.add_argument("--output", type=Path, required=True, help="image archive to write (.tar.gz)")
    exp.add_argument("--model", type=Path, help="model folder to pack (extracted to /opt/ml/model/)")
    exp.add_argument("--model-output", type=Path,
                     help="model archive (default: model.tar.gz next to --output)")
    return parser


def _env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env {pair!r} is not KEY=VALUE")
        env[key] = value
    return env


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 on success, 1 when the ranking (or an export) failed, 2 on bad arguments."""
    return run_cli("crossmoda-challenge", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "export":
        from crossmoda.challenge.export import pack_model, save_image
        from crossmoda.challenge.pipeline import _docker_client

        save_image(_docker_client(), args.image, args.output)
        if args.model is not None:
            pack_model(args.model, args.model_output or args.output.with_name("model.tar.gz"))
        return 0
    try:
        config = ChallengeConfig(
            teams=tuple(parse_team(t) for t in args.team),
            input_dir=args.input, ground_truth=args.ground_truth, output_dir=args.output,
            koos_truth=args.koos_truth,
            limits=Limits(time_limit_s=args.time_limit, memory=args.memory, shm_size=args.shm_size,
                          tmp_size=args.tmp_size, cpus=args.cpus, pids_limit=args.pids_limit, gpu=args.gpu,
                          read_only_rootfs=args.read_only_rootfs, output_size=args.output_size,
                          user=args.user, env=_env(args.env)),
            scoring=Scoring(evaluation_image=args.evaluation_image, ranking_image=args.ranking_image,
                            evaluation_args=tuple(args.evaluation_arg), ranking_args=tuple(args.ranking_arg),
                            keep_partial=args.keep_partial),
        )
        slurm_options = SlurmOptions(
            engine=args.engine, cases_per_job=args.cases_per_job, gpus_per_job=args.gpus_per_job,
            partition=args.partition, account=args.account, qos=args.qos, extra_args=tuple(args.sbatch_arg),
            poll_s=args.poll, rerun=tuple(args.rerun))
        unknown = sorted(set(args.rerun) - {t.name for t in config.teams})
        if unknown:
            raise ValueError(f"--rerun names teams that are not in this run: {unknown}")
    except ValueError as err:
        parser.error(str(err))
    from crossmoda.challenge.pipeline import run_challenge
    from crossmoda.challenge.slurm import SlurmError

    try:
        result = run_challenge(config, backend=args.backend, slurm_options=slurm_options)
    except (SlurmError, FileNotFoundError) as err:
        parser.exit(2, f"crossmoda-challenge: error: {err}\n")
    logger.info("leaderboard: %s", result.report_md)
    for failure in result.report["failures"]:
        logger.warning("failed submission %s: %s (%s)", failure["team"], failure["status"],
                       failure["message"])
    return 0 if result.ranking_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
