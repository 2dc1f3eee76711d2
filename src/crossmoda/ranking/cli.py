"""``crossmoda-rank SCORES --output DIR``: rank teams and write the leaderboard and report."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from crossmoda.core.cli import (
    EXIT_USAGE,
    check_environment,
    check_writable_dir,
    non_negative_int,
    probability,
    run_cli,
    setup_logging,
)
from crossmoda.core.errors import CrossmodaError
from crossmoda.ranking.bootstrap import BootstrapError
from crossmoda.ranking.pipeline import RankingConfig, run_ranking
from crossmoda.ranking.ranks import VARIANTS
from crossmoda.ranking.scores import ColumnNames

__all__ = ["build_parser", "main"]

logger = logging.getLogger("crossmoda.ranking")


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``crossmoda-rank``."""
    d = RankingConfig()
    p = argparse.ArgumentParser(
        prog="crossmoda-rank",
        description="Rank crossMoDA submissions (rank-then-aggregate as in the challenge, variants, "
                    "other schemes, significance tests, bootstrap stability, Koos leaderboard).")
    p.add_argument("scores", help="per-case table (CSV/Parquet, wide or long) or a folder of team folders "
                                  "each holding the evaluation's metrics.json")
    p.add_argument("--output", "-o", required=True, help="report folder")
    p.add_argument("--bootstrap", type=non_negative_int, default=d.bootstrap, metavar="N",
                   help=f"bootstrap resamples, 0 = none (default {d.bootstrap})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"bootstrap seed (default {d.seed})")
    p.add_argument("--variants", nargs="*", choices=VARIANTS, default=list(d.variants),
                   help="ranking variants (default: all)")
    p.add_argument("--missing", choices=["worst", "drop", "error"], default=d.missing,
                   help="missing values: metric's worst value (default, as the challenge), drop incomplete "
                        "cases, or fail")
    p.add_argument("--alpha", type=probability, default=d.alpha, help="test-then-rank significance level")
    p.add_argument("--adjustment", choices=["none", "holm"], default=d.adjustment,
                   help="test-then-rank p-value adjustment (default none, as challengeR)")
    p.add_argument("--columns", nargs="+", default=None,
                   help="metric columns to rank on (default: VS/Cochlea Dice and ASSD when present)")
    p.add_argument("--case-column", default=d.names.case, help="case column name (case-insensitive)")
    p.add_argument("--team-column", default=d.names.team, help="team column name (case-insensitive)")
    p.add_argument("--metric-column", default=d.names.metric, help="metric column of a long table")
    p.add_argument("--value-column", default=d.names.value, help="value column of a long table")
    p.add_argument("--no-figures", action="store_true", help="skip the figures and report.html")
    p.add_argument("--verbose", "-v", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns 0 on success, 2 on bad input."""
    return run_cli("crossmoda-rank", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, fmt="%(message)s")
    check_environment()
    check_writable_dir(args.output)
    config = RankingConfig(
        bootstrap=args.bootstrap, seed=args.seed, variants=tuple(args.variants), missing=args.missing,
        alpha=args.alpha, adjustment=args.adjustment, columns=args.columns,
        names=ColumnNames(args.case_column, args.team_column, args.metric_column, args.value_column),
        figures=not args.no_figures,
    )
    start = time.perf_counter()
    try:
        result = run_ranking(args.scores, args.output, config)
    except (CrossmodaError, BootstrapError, FileNotFoundError, ValueError) as err:
        logger.error("crossmoda-rank: %s", " ".join(str(err).split()))
        return EXIT_USAGE
    ranking = result.main.ranking
    best = ", ".join(f"{int(ranking.rank[i])}. {ranking.teams[i]} ({ranking.score[i]:.4f})"
                     for i in ranking.order()[:3])
    logger.info("ranked %d teams on %d cases in %.1f s: %s\nreport: %s", len(ranking.teams),
                ranking.n_cases, time.perf_counter() - start, best, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
