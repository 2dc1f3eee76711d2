"""Benchmark of ``crossmoda-rank``: speed on the published scores, time and memory at scale.

1. Published: on the crossMoDA 2022 test-phase scores (12 teams x 271 cases), the computing alone
   (ranking + all variants + other schemes + significance tests + a 1000-resample bootstrap,
   :func:`crossmoda.ranking.pipeline.compute_ranking`; imports and reading excluded; cold call and
   median of repeated calls; limit 1 s) and the whole ``crossmoda-rank SCORES --output DIR`` command
   with figures and ``report.html`` (limit 15 s), and the published order.
2. Scale: synthetic wide tables of T teams x C cases (``--sizes 200x500 1000x500``, seed 0, two
   sites), each ranked by the whole command with the default settings (1000 resamples, figures,
   ``report.html``) in its own child process: wall time, CPU time and peak resident memory of that
   child (``os.wait4``), and the size of ``report.html``. Limits for 1000 x 500: 120 s and 4 GiB.

Run: ``.venv/bin/python benchmarks/bench_ranking.py [--sizes 200x500 1000x500] [--skip-published]``;
exit status 1 when a limit is exceeded or the ranking differs from the published one. The machine
load average is printed with every measurement (wall times grow with it).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCORES = REPO / "tests" / "data" / "crossmoda2022" / "score_test.csv"
COMPUTE_LIMIT_S = 1.0
COMMAND_LIMIT_S = 15.0
SCALE_LIMITS = {(1000, 500): (120.0, 4.0)}
"""(teams, cases) -> (wall seconds, peak GiB) limits of the whole command."""
PUBLISHED_ORDER = ["ne2e", "MAI", "LaTIM", "Super_Polymerization", "A*DA", "fgh_365", "SJTU_EIEE_2-426Lab",
                   "MBZUAI_VS", "HUST_CBIB", "skjp", "gabybaldeon", "Of_Men_and_Rabbits"]

logger = logging.getLogger("bench_ranking")


def _command() -> list[str]:
    script = Path(sys.executable).parent / "crossmoda-rank"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crossmoda.ranking.cli"]


def synthetic_scores(n_teams: int, n_cases: int, seed: int = 0) -> pd.DataFrame:
    """Wide table in the organisers' layout: teams of graded skill, per-case difficulty, noise.

    Dice in [0, 1]; ASSD in mm >= 0 (about 1 % exact zeros, as perfect small structures give).
    """
    rng = np.random.default_rng(seed)
    skill = rng.normal(0.0, 1.0, n_teams)[:, None]  # (T, 1)
    hard = rng.normal(0.0, 1.0, n_cases)[None, :]  # (1, C)
    cols = {}
    for structure, dice0, assd0 in (("VS", 0.8, 0.6), ("Cochlea", 0.75, 0.3)):
        noise = rng.normal(0.0, 1.0, (n_teams, n_cases))
        cols[f"{structure}_Dice"] = np.clip(dice0 + 0.05 * skill - 0.05 * hard + 0.08 * noise, 0.0, 1.0)
        assd = assd0 * np.exp(-0.3 * skill + 0.3 * hard + 0.5 * rng.normal(0.0, 1.0, (n_teams, n_cases)))
        cols[f"{structure}_ASSD"] = np.where(rng.random((n_teams, n_cases)) < 0.01, 0.0, assd)
    sites = ("etz", "ldn")
    cases = [f"crossmoda2022_{sites[i % 2]}_{i + 1}" for i in range(n_cases)]
    teams = [f"team_{t + 1:04d}" for t in range(n_teams)]
    return pd.DataFrame({
        "Case": np.tile(cases, n_teams), **{k: v.ravel() for k, v in cols.items()},
        "Team": np.repeat(teams, n_cases),
    })


def run_measured(cmd: list[str]) -> tuple[int, float, float, float, str]:
    """Run ``cmd`` as a child: exit status, wall s, CPU s (user + sys), peak RSS GiB, stderr tail."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-2000:]
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, tail


def bench_published(scores: Path, repeats: int, bootstrap: int) -> bool:
    """Section 1; True when the limits hold and the published order is reproduced."""
    from crossmoda.ranking.pipeline import RankingConfig, compute_ranking
    from crossmoda.ranking.scores import load_scores

    start = time.perf_counter()
    table = load_scores(scores)
    load_s = time.perf_counter() - start
    config = RankingConfig(bootstrap=bootstrap, seed=2022)
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        result = compute_ranking(table, config)
        times.append(time.perf_counter() - start)
    cold_s, median_s = times[0], statistics.median(times)
    ranking = result.main.ranking
    order = [ranking.teams[i] for i in ranking.order()]
    published = scores == DEFAULT_SCORES
    order_ok = (order == PUBLISHED_ORDER) if published else True
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*_command(), str(scores), "--output", str(Path(tmp) / "report"),
               "--bootstrap", str(bootstrap), "--seed", "2022"]
        rc, command_s, command_cpu_s, peak_gib, tail = run_measured(cmd)
        n_png = len(list((Path(tmp) / "report" / "figures").glob("*.png")))
    if rc != 0:
        logger.error("crossmoda-rank failed:\n%s", tail)
        return False
    compute_ok, command_ok = cold_s <= COMPUTE_LIMIT_S, command_s <= COMMAND_LIMIT_S
    logger.info("scores: %s (%d teams x %d cases x %d columns)", scores, len(table.teams),
                len(table.cases), len(table.columns))
    logger.info("%-40s %.3f s (not counted)", "reading the table:", load_s)
    logger.info("%-40s %.3f s (limit %.1f s) %s", f"compute, {bootstrap} resamples, cold call:", cold_s,
                COMPUTE_LIMIT_S, "PASS" if compute_ok else "FAIL")
    logger.info("%-40s %.3f s", f"compute, median of {len(times)} calls:", median_s)
    logger.info("%-40s %.2f s (limit %.0f s) %s; %d figures; %.2f s CPU; peak %.2f GiB; load %.1f",
                "whole crossmoda-rank command:", command_s, COMMAND_LIMIT_S, "PASS" if command_ok else "FAIL",
                n_png, command_cpu_s, peak_gib, os.getloadavg()[0])
    if published:
        logger.info("published crossMoDA 2022 order reproduced: %s", "yes" if order_ok else "NO")
    return compute_ok and command_ok and order_ok


def bench_scale(n_teams: int, n_cases: int) -> bool:
    """Section 2 for one size; True when its limits (if any) hold."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "scores.csv"
        synthetic_scores(n_teams, n_cases).to_csv(csv, index=False)
        out = Path(tmp) / "report"
        load = os.getloadavg()[0]
        rc, wall, cpu, peak, tail = run_measured([*_command(), str(csv), "--output", str(out)])
        html = out / "report.html"
        html_mb = html.stat().st_size / 1e6 if html.exists() else float("nan")
    if rc != 0:
        logger.error("%d x %d: crossmoda-rank exited with %d:\n%s", n_teams, n_cases, rc, tail)
        return False
    wall_limit, mem_limit = SCALE_LIMITS.get((n_teams, n_cases), (float("inf"), float("inf")))
    ok = wall <= wall_limit and peak <= mem_limit
    limits = "" if (n_teams, n_cases) not in SCALE_LIMITS else \
        f" (limits {wall_limit:.0f} s, {mem_limit:.0f} GiB) {'PASS' if ok else 'FAIL'}"
    logger.info("%5d teams x %4d cases, with report: %.1f s wall, %.1f s CPU, peak %.2f GiB, report.html "
                "%.2f MB; load average %.1f before, %.1f after, %d cores%s", n_teams, n_cases, wall, cpu,
                peak, html_mb, load, os.getloadavg()[0], os.cpu_count() or 0, limits)
    return ok


def _size(text: str) -> tuple[int, int]:
    teams, _, cases = text.partition("x")
    try:
        return int(teams), int(cases)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TEAMSxCASES, e.g. 200x500, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every limit holds."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", nargs="?", type=Path, default=DEFAULT_SCORES)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--sizes", nargs="*", type=_size, default=[(200, 500), (1000, 500)],
                        metavar="TEAMSxCASES", help="synthetic sizes (default 200x500 1000x500)")
    parser.add_argument("--skip-published", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ok = True
    if not args.skip_published:
        ok &= bench_published(args.scores, args.repeats, args.bootstrap)
    for n_teams, n_cases in args.sizes:
        ok &= bench_scale(n_teams, n_cases)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
