"""``crossmoda-phantom``: generate a synthetic crossMoDA data set, or preview a case."""

from __future__ import annotations

import argparse
import logging

from crossmoda.core.cli import (
    check_writable_dir,
    fraction,
    non_negative_int,
    positive_int,
    run_cli,
    setup_logging,
)
from crossmoda.phantom.config import EDITIONS, PRESETS, PhantomConfig

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``crossmoda-phantom``."""
    parser = argparse.ArgumentParser(prog="crossmoda-phantom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a data set laid out like crossMoDA")
    gen.add_argument("out", help="output folder")
    gen.add_argument("--source", type=non_negative_int, default=40,
                     help="labelled ceT1 cases (source_training)")
    gen.add_argument("--target", type=non_negative_int, default=40,
                     help="unlabelled hrT2 cases (target_training)")
    gen.add_argument("--validation", type=non_negative_int, default=10, help="hrT2 validation cases")
    gen.add_argument("--test", type=non_negative_int, default=20, help="hrT2 test cases")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument(
        "--edition",
        type=int,
        choices=EDITIONS,
        default=2022,
        help="2022: ldn/etz, hrT2, labels 1 VS / 2 cochlea; 2023: ldn/etz/ukm (routine multi-centre "
        "T2), T2, labels 1 extra-meatal VS / 2 intra-meatal VS / 3 cochlea (default 2022)",
    )
    gen.add_argument(
        "--preset",
        choices=PRESETS,
        default="small",
        help="small: ~100x60x40 mm crop around both canals; full: whole field of view",
    )
    gen.add_argument(
        "--postop-fraction",
        type=fraction,
        default=0.0,
        help="fraction of post-operative cases per split (default 0)",
    )
    gen.add_argument("--workers", type=positive_int, default=None,
                     help="worker processes (default min(4, cpus))")
    gen.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    pre = sub.add_parser("preview", help="PNG of a slice through the canal: ceT1 | T2 + labels")
    pre.add_argument("path", help="data set folder, or a case name inside --root")
    pre.add_argument("--case", nargs="+", default=None, help="case name(s), a row each (default: first)")
    pre.add_argument("--output", required=True, help="PNG file to write")
    pre.add_argument("--cases", type=positive_int, default=1, help="number of cases (rows) to show")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``crossmoda-phantom``; 2 with a one-line message on bad values."""
    return run_cli("crossmoda-phantom", lambda: _main(argv), usage_errors=(ValueError,))


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, quiet_level=logging.WARNING)
    if args.command == "generate":
        check_writable_dir(args.out)
        from crossmoda.phantom.dataset import generate_dataset

        config = PhantomConfig(
            source=args.source,
            target=args.target,
            validation=args.validation,
            test=args.test,
            seed=args.seed,
            preset=args.preset,
            postop_fraction=args.postop_fraction,
            workers=args.workers,
            edition=args.edition,
        )
        summary = generate_dataset(args.out, config, progress=not args.no_progress)
        logging.getLogger(__name__).warning(
            "wrote %d cases to %s in %.1f s", len(summary.cases), summary.out, summary.seconds
        )
        return 0
    from crossmoda.phantom.preview import preview

    preview(args.path, args.output, case=args.case, n_cases=args.cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
