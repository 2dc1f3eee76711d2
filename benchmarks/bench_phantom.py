"""Benchmark of ``crossmoda-phantom``: seconds per generated case.

Template loading (once per process, a few seconds) is timed apart and excluded. For each preset,
``--cases`` cases of alternating sites (``--edition 2023``: ldn, etz, ukm) and grades are
generated in this process (one core's worth of work: the generator is single-threaded per
case), each timed as generation only (:func:`crossmoda.phantom.case.generate_case`) and as
generation + writing its files (:func:`crossmoda.phantom.dataset.write_case`, compressed
NIfTI). Limits: ``small`` 1 s, ``full`` 15 s per case (median generation), on a 2-core machine.

Run: ``.venv/bin/python benchmarks/bench_phantom.py [--cases 4] [--edition 2023] [--json OUT.json]``;
exit status 1 when a limit is exceeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

LIMITS_S = {"small": 1.0, "full": 15.0}

logger = logging.getLogger("bench_phantom")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every preset is within its limit (median over cases)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=4, help="cases per preset")
    parser.add_argument("--presets", nargs="+", default=["small", "full"], choices=sorted(LIMITS_S))
    parser.add_argument("--edition", type=int, choices=[2022, 2023], default=2022)
    parser.add_argument("--seed", type=int, default=100, help="seed of the first case (+1 per case)")
    parser.add_argument("--sites", nargs="+", default=None, choices=["ldn", "etz", "ukm"],
                        help="sites to alternate (default: those of the edition)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from crossmoda.phantom.case import CaseSpec, generate_case
    from crossmoda.phantom.config import EDITION_SITES
    from crossmoda.phantom.dataset import write_case
    from crossmoda.phantom.templates import load_templates

    start = time.perf_counter()
    load_templates()
    results: dict[str, object] = {"template_load_s": time.perf_counter() - start, "edition": args.edition,
                                  "sites": list(args.sites or EDITION_SITES[args.edition]),
                                  "presets": {}}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            gen, total, shapes = [], [], []
            for i in range(args.cases):
                sites = tuple(args.sites or EDITION_SITES[args.edition])
                site = sites[i % len(sites)]
                split = "source_training" if i % 4 < 2 else "test"
                spec = CaseSpec(f"crossmoda{args.edition}_{site}_{i + 1}", i, split, site, 1 + i % 4,
                                seed=args.seed + i, preset=preset, edition=args.edition)
                t0 = time.perf_counter()
                result = generate_case(spec)
                t1 = time.perf_counter()
                write_case(result, Path(tmp) / preset)
                t2 = time.perf_counter()
                gen.append(t1 - t0)
                total.append(t2 - t0)
                shapes.append(list(result.geometry.shape))
                logger.info("%-5s %-22s %-15s grid %s: generate %.2f s, + write %.2f s", preset, spec.name,
                            split, result.geometry.shape, t1 - t0, t2 - t0)
            median = statistics.median(gen)
            within = median <= LIMITS_S[preset]
            ok &= within
            presets = results["presets"]
            assert isinstance(presets, dict)
            presets[preset] = {"generate_s": gen, "generate_and_write_s": total, "shapes_zyx": shapes,
                               "median_generate_s": median, "median_total_s": statistics.median(total),
                               "limit_s": LIMITS_S[preset], "within_limit": within}
            logger.info("%s: median %.2f s per case (limit %.0f s), with writing %.2f s -> %s", preset,
                        median, LIMITS_S[preset], statistics.median(total), "OK" if within else "OVER")
    logger.info("template loading (excluded): %.1f s", results["template_load_s"])
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
