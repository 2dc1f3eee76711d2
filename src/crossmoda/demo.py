"""The end-to-end demo behind ``make demo``.

Makes a small synthetic test set, runs the shipped algorithm on it (and, as a second "team",
the no-adaptation baseline), evaluates both, ranks them and prints where the report is. Each
step is the real console script, run as a user would.

``--edition 2023`` (``make demo-2023``) makes a 2023 test set (ldn, etz, ukm; ``_T2`` images;
labels 1 extra-meatal VS, 2 intra-meatal VS, 3 cochlea), runs the shipped crossMoDA 2023 model
(``adapted_2023``, or ``--model NAME_OR_FOLDER``) as the team ``crossmoda-adapted-2023``, scores
it next to a stand-in team made from the reference labels (``perturbed-reference-eroded``,
:mod:`crossmoda.demo_teams`), and evaluates and ranks with the 2023 presets (no Koos grading).
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

from crossmoda.core.cli import (
    EXIT_FAILED,
    UsageError,
    check_writable_dir,
    positive_int,
    run_cli,
    setup_logging,
)

__all__ = ["DemoConfig", "run_demo", "main"]

logger = logging.getLogger("crossmoda.demo")

TEAMS: dict[str, str] = {"crossmoda-adapted": "adapted", "no-adaptation-baseline": "no_adaptation"}
"""Team name -> shipped model name."""
TEAM_2023 = "crossmoda-adapted-2023"
"""The 2023 demo's algorithm team."""
MODEL_2023 = "adapted_2023"
"""Its default model: the shipped crossMoDA 2023 model."""
REFERENCE_TEAM_2023 = "perturbed-reference-eroded"
"""The 2023 demo's second team: the reference labels eroded (a stand-in, not a method)."""


@dataclass
class DemoConfig:
    """Demo settings: output folder, number of test cases, seed, phantom preset, bootstrap
    resamples, edition (2022: the two shipped 2022 models; 2023: a 2023 model and a
    perturbed-reference stand-in) and, for 2023, the model (a shipped name or a folder;
    ``None``: :data:`MODEL_2023`)."""

    output: Path = Path("demo")
    cases: int = 8
    seed: int = 2026
    preset: str = "small"
    bootstrap: int = 1000
    edition: int = 2022
    model: str | None = None


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


def model_2023(model: str | None) -> Path:
    """The 2023 demo's model folder: ``model`` (a shipped name or a folder) or the shipped
    :data:`MODEL_2023`, checked to predict the crossMoDA 2023 labels.

    Raises:
        UsageError: the model is not installed or not found, or is not a crossmoda2023 model.
    """
    from crossmoda.algorithm.model.shipped import model_from, shipped_model_dir
    from crossmoda.algorithm.model.spec import ModelError, read_model_json
    from crossmoda.core.labels import LABELS_2023

    try:
        path = model_from(model) if model else shipped_model_dir(MODEL_2023)
        label_map = read_model_json(path)[0].label_map
    except ModelError as err:
        if model:
            raise UsageError(f"--model: {err}") from None
        raise UsageError(f"the 2023 demo runs the shipped crossMoDA 2023 model {MODEL_2023!r}: "
                         f"{err.problem}; give a crossmoda2023 model with --model NAME_OR_FOLDER",
                         err.path) from None
    if label_map != LABELS_2023.name:
        raise UsageError(f"the model predicts {label_map}, the 2023 demo needs a {LABELS_2023.name} "
                         "model", path)
    return path


def run_demo_2023(config: DemoConfig) -> Path:
    """Data (2023) -> a 2023 model (team :data:`TEAM_2023`) and a perturbed-reference stand-in
    (:data:`REFERENCE_TEAM_2023`) -> evaluation -> ranking (2023 presets); return the report path.

    Raises:
        UsageError: see :func:`model_2023` (before anything is written).
        RuntimeError: a step failed.
    """
    from crossmoda.demo_teams import write_perturbed_team

    model = model_2023(config.model)
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
    _step(f"algorithm: {TEAM_2023}", [
        _script("crossmoda-algorithm"), "--input", str(data / "test"),
        "--output", str(predictions / TEAM_2023), "--model", str(model),
    ])
    logger.warning("Team %s is the reference labels eroded by one voxel in-plane: a stand-in that "
                   "gives the ranking a second team, not a method.", REFERENCE_TEAM_2023)
    write_perturbed_team(truth, predictions / REFERENCE_TEAM_2023, REFERENCE_TEAM_2023)
    for team in (TEAM_2023, REFERENCE_TEAM_2023):
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
                        help=f"2023: 2023 data, the shipped {MODEL_2023} model as team {TEAM_2023} "
                             f"and {REFERENCE_TEAM_2023} as a second team, 2023 evaluation and ranking")
    parser.add_argument("--model", default=None,
                        help=f"with --edition 2023: the model of team {TEAM_2023}, a shipped name or "
                             f"a model folder (default {MODEL_2023})")
    args = parser.parse_args(argv)
    setup_logging(fmt="%(message)s")
    if args.model is not None and args.edition < 2023:
        raise UsageError("--model is for --edition 2023; the 2022 demo runs the shipped adapted "
                         "and no_adaptation models")
    check_writable_dir(args.output)
    start = time.perf_counter()
    try:
        html = run_demo(DemoConfig(args.output, args.cases, args.seed, args.preset, edition=args.edition,
                                   model=args.model))
    except (RuntimeError, FileNotFoundError) as err:
        logger.error("demo failed: %s", err)
        return EXIT_FAILED
    logger.info("\nDemo finished in %.0f s.\nLeaderboard: %s\nReport:      %s",
                time.perf_counter() - start, html.parent / "leaderboard.md", html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
