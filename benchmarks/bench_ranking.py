"""Benchmark of ``crossmoda-rank`` (issue 5 acceptance).

Measures, on the crossMoDA 2022 test-phase scores (12 teams x 271 cases):

1. compute: ranking + all variants + other schemes + significance tests + a 1000-resample
   bootstrap (:func:`crossmoda.ranking.pipeline.compute_ranking`), imports and file reading
   excluded; the first (cold) call and the median of repeated calls. Limit: 1 s.
2. command: the whole ``crossmoda-rank SCORES --output DIR`` run as a subprocess (interpreter start,
   imports, reading, computing, CSV/Markdown/JSON, figures and ``report.html``), wall-clock time
   (limit 15 s) and its CPU time (the machine is shared: the wall time grows with the load).

Run: ``.venv/bin/python benchmarks/bench_ranking.py [SCORES] [--repeats 5]``; exit status 1 when
a limit is exceeded or the ranking differs from the published one.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCORES = REPO / "tests" / "data" / "crossmoda2022" / "score_test.csv"
COMPUTE_LIMIT_S = 1.0
COMMAND_LIMIT_S = 15.0
PUBLISHED_ORDER = ["ne2e", "MAI", "LaTIM", "Super_Polymerization", "A*DA", "fgh_365", "SJTU_EIEE_2-426Lab",
                   "MBZUAI_VS", "HUST_CBIB", "skjp", "gabybaldeon", "Of_Men_and_Rabbits"]

logger = logging.getLogger("bench_ranking")


def _command() -> list[str]:
    script = Path(sys.executable).parent / "crossmoda-rank"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crossmoda.ranking.cli"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when both limits hold."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", nargs="?", type=Path, default=DEFAULT_SCORES)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from crossmoda.ranking.pipeline import RankingConfig, compute_ranking
    from crossmoda.ranking.scores import load_scores

    start = time.perf_counter()
    table = load_scores(args.scores)
    load_s = time.perf_counter() - start
    config = RankingConfig(bootstrap=args.bootstrap, seed=2022)
    times = []
    for _ in range(max(args.repeats, 1)):
        start = time.perf_counter()
        result = compute_ranking(table, config)
        times.append(time.perf_counter() - start)
    cold_s, median_s = times[0], statistics.median(times)
    ranking = result.main.ranking
    order = [ranking.teams[i] for i in ranking.order()]
    published = args.scores == DEFAULT_SCORES
    order_ok = (order == PUBLISHED_ORDER) if published else True

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*_command(), str(args.scores), "--output", str(Path(tmp) / "report"),
               "--bootstrap", str(args.bootstrap), "--seed", "2022"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        command_s = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        command_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        n_png = len(list((Path(tmp) / "report" / "figures").glob("*.png")))
    if done.returncode != 0:
        logger.error("crossmoda-rank failed:\n%s", done.stderr)
        return 1

    boot = result.bootstrap
    tau = boot.tau_summary() if boot is not None else {}
    compute_ok, command_ok = cold_s <= COMPUTE_LIMIT_S, command_s <= COMMAND_LIMIT_S
    logger.info("scores: %s (%d teams x %d cases x %d columns)", args.scores, len(table.teams),
                len(table.cases), len(table.columns))
    logger.info("variants: %s; schemes: %s", ", ".join(result.variants), ", ".join(result.schemes))
    logger.info("%-40s %.3f s (not counted)", "reading the table:", load_s)
    logger.info("%-40s %.3f s (limit %.1f s) %s", f"compute, {args.bootstrap} resamples, cold call:", cold_s,
                COMPUTE_LIMIT_S, "PASS" if compute_ok else "FAIL")
    logger.info("%-40s %.3f s", f"compute, median of {len(times)} calls:", median_s)
    logger.info("%-40s %.2f s (limit %.0f s) %s; %d figures", "whole crossmoda-rank command:",
                command_s, COMMAND_LIMIT_S, "PASS" if command_ok else "FAIL", n_png)
    logger.info("%-40s %.2f s (user + sys); load average %.1f on %d cores", "  its CPU time:", command_cpu_s,
                os.getloadavg()[0], os.cpu_count() or 0)
    if published:
        logger.info("published crossMoDA 2022 order reproduced: %s", "yes" if order_ok else "NO")
    if tau:
        logger.info("Kendall tau-b vs full ranking: mean %.4f, median %.4f, min %.4f", tau["mean"],
                    tau["median"], tau["min"])
    return 0 if compute_ok and command_ok and order_ok else 1


if __name__ == "__main__":
    sys.exit(main())
