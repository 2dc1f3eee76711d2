"""The end-to-end demo behind ``make demo``.

Makes a small synthetic test set, runs the shipped algorithm on it (and, as a second "team",
the no-adaptation baseline), evaluates both, ranks them and prints where the report is. Each
step is the real console script, run as a user would.

``--edition 2023`` makes a 2023 test set (ldn, etz, ukm; labels 1 extra-meatal VS, 2 intra-meatal
VS, 3 cochlea) and runs evaluation and ranking with the 2023 presets. No 2023 model ships, so no
algorithm runs: the two "teams" are the reference labels perturbed (:mod:`crossmoda.demo_teams`),
named as such, and Koos grades are not scored.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from crossmoda.core.cli import EXIT_FAILED, check_writable_dir, positive_int, run_cli, setup_logging

__all__ = ["DemoConfig", "run_demo", "main"]

logger = logging.getLogger("crossmoda.demo")

TEAMS: dict[str, str] = {"crossmoda-adapted": "adapted", "no-adaptation-baseline": "no_adaptation"}
"""Team name -> shipped model name."""


@dataclass
class DemoConfig:
    """Demo settings: output folder, number of test cases, seed, phantom preset, bootstrap
    resamples and edition (2022: the shipped models; 2023: perturbed-reference stand-ins)."""

    output: Path = Path("demo")
    cases: int = 8
    seed: int = 2026
    preset: str = "small"
    bootstrap: int = 1000
    edition: int = 2022


def _script(name: str) -> str:
    """Path of a console script next to this interpreter (the venv's), or on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"console script {name!r} not installed; run `make setup`")
    return found


def _step(title: str, cmd: list[str]) -> None:
    logger.info("== %s ==\n$ %s", title, " ".join(cmd))
    start = time.perf_counter()
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"step '{title}' failed with exit status {result.returncode}")
    logger.info("   %s done in %.1f s", title, time.perf_counter() - start)


def run_demo(config: DemoConfig) -> Path:
    """Run data -> algorithm (two teams) -> evaluation -> ranking; return the report path."""
    if config.edition >= 2023:
        return run_demo_2023(config)
    out = config.output.resolve()
    data, predictions, scores, report = out / "data", out / "predictions", out / "evaluation", out / "report"
    for folder in (data, predictions, scores, report):
        if folder.exists():
            shutil.rmtree(folder)
    _step("synthetic test set", [
        _script("crossmoda-phantom"), "generate", str(data), "--source", "0", "--target", "0",
        "--validation", "0", "--test", str(config.cases), "--seed", str(config.seed),
        "--preset", config.preset,
    ])
    for team, model in TEAMS.items():
        from crossmoda.algorithm.model.shipped import shipped_model_dir

        _step(f"algorithm: {team}", [
            _script("crossmoda-algorithm"), "--input", str(data / "test"),
            "--output", str(predictions / team), "--model", str(shipped_model_dir(model)),
        ])
        _step(f"evaluation: {team}", [
            _script("crossmoda-evaluate"), "--predictions", str(predictions / team),
            "--ground-truth", str(data / "test_labels"),
            "--koos-predictions", str(predictions / team / "predictions.csv"),
            "--koos-truth", str(data / "test_labels" / "koos.csv"), "--output", str(scores / team),
        ])
    _step("ranking", [
        _script("crossmoda-rank"), str(scores), "--output", str(report),
        "--bootstrap", str(config.bootstrap), "--seed", str(config.seed),
    ])
    return report / "report.html"


def run_demo_2023(config: DemoConfig) -> Path:
    """Data (2023) -> perturbed-reference "teams" (no model) -> evaluation -> ranking (2023 presets)."""
    from crossmoda.demo_teams import PERTURBATIONS, write_perturbed_team

    out = config.output.resolve()
    data, predictions, scores, report = out / "data", out / "predictions", out / "evaluation", out / "report"
    truth = out / "ground_truth"
    for folder in (data, predictions, scores, report, truth):
        if folder.exists():
            shutil.rmtree(folder)
    _step("synthetic 2023 test set", [
        _script("crossmoda-phantom"), "generate", str(data), "--edition", "2023", "--source", "0",
        "--target", "0", "--validation", "0", "--test", str(config.cases), "--seed", str(config.seed),
        "--preset", config.preset,
    ])
    truth.mkdir(parents=True)
    for label in sorted((data / "test_labels").glob("*_Label.nii.gz")):
        shutil.copy2(label, truth / label.name)  # labels only: no Koos table, Koos is not scored
    logger.warning("No 2023 model ships with this package: the 2023 'teams' are the reference labels "
                   "perturbed (%s). Their scores test evaluation and ranking, not segmentation.",
                   ", ".join(PERTURBATIONS))
    for team in PERTURBATIONS:
        write_perturbed_team(truth, predictions / team, team)
        _step(f"evaluation: {team}", [
            _script("crossmoda-evaluate"), "--predictions", str(predictions / team),
            "--ground-truth", str(truth), "--label-map", "crossmoda2023", "--output", str(scores / team),
        ])
    _step("ranking", [
        _script("crossmoda-rank"), str(scores), "--output", str(report), "--preset", "crossmoda2023",
        "--bootstrap", str(config.bootstrap), "--seed", str(config.seed),
    ])
    return report / "report.html"


def main(argv: list[str] | None = None) -> int:
    """Console entry point of the demo; 2 with a one-line message on bad values."""
    return run_cli("crossmoda-demo", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="crossmoda-demo", description=__doc__)
    parser.add_argument("--output", type=Path, default=DemoConfig.output)
    parser.add_argument("--cases", type=positive_int, default=DemoConfig.cases)
    parser.add_argument("--seed", type=int, default=DemoConfig.seed)
    parser.add_argument("--preset", choices=["small", "full"], default=DemoConfig.preset)
    parser.add_argument("--edition", type=int, choices=[2022, 2023], default=DemoConfig.edition,
                        help="2023: evaluation and ranking on 2023 data with perturbed-reference "
                             "stand-ins for teams (no 2023 model ships)")
    args = parser.parse_args(argv)
    setup_logging(fmt="%(message)s")
    check_writable_dir(args.output)
    start = time.perf_counter()
    try:
        html = run_demo(DemoConfig(args.output, args.cases, args.seed, args.preset, edition=args.edition))
    except (RuntimeError, FileNotFoundError) as err:
        logger.error("demo failed: %s", err)
        return EXIT_FAILED
    logger.info("\nDemo finished in %.0f s.\nLeaderboard: %s\nReport:      %s",
                time.perf_counter() - start, html.parent / "leaderboard.md", html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
