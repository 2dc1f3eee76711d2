"""Seconds per segmentation training iteration at several torch thread counts, side by side.

One iteration as ``crossmoda-train segment`` runs it (patch sampling and augmentation, DynUNet
forward, class-weighted Dice + CE, backward, AdamW step) on crops of the ``small`` preset's
shape, from a run's prepared pseudo-hrT2 (``--run RUN``) or from synthetic crops. Thread counts
alternate (``--repeats`` passes) so that machine noise hits them alike; compare the ratios.

    .venv/bin/python benchmarks/bench_segment_step.py [--run RUN] [--threads 1 2] [--steps 15]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("bench_segment_step")


def _volumes(run: Path | None) -> list:  # type: ignore[type-arg]
    from crossmoda.algorithm.training.data import Volume, load_split
    from crossmoda.algorithm.training.run_index import RunIndex

    if run is not None:
        index = RunIndex.read(run / "data")
        split = "pseudo" if (run / "data" / "pseudo").is_dir() else None
        return load_split(run / "data", "source", index.source, image_split=split)
    rng = np.random.default_rng(0)
    out = []
    for k in range(4):
        img = rng.normal(0, 1, (40, 96, 160)).astype(np.float32)
        lbl = np.zeros(img.shape, dtype=np.uint8)
        lbl[15:25, 40:55, 30:45] = 1
        lbl[18:21, 45:48, 20:23] = 2
        lbl[10:30, 60:90, 70:90] = 3
        out.append(Volume(f"synthetic_{k}", img, lbl))
    return out


def step_seconds(run: Path | None, threads: int, steps: int, warmup: int = 3) -> float:
    """Mean seconds per iteration over ``steps`` iterations after ``warmup``, ``threads`` threads."""
    import torch
    from monai.losses import DiceCELoss

    from crossmoda.algorithm.model.network import build_segmenter
    from crossmoda.algorithm.training.config import CLASS_WEIGHTS, SegmentConfig
    from crossmoda.algorithm.training.data import patch_batches

    torch.set_num_threads(threads)
    cfg = SegmentConfig()
    batches = patch_batches(_volumes(run), cfg.patch, cfg.batch_size, np.random.default_rng(0),
                            cfg.foreground_fraction, True, tumour_prob=cfg.tumour_prob, cochlea_prob=0.5)
    net = build_segmenter(cfg.filters)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True,
                         weight=torch.tensor(CLASS_WEIGHTS["crossmoda2022"]))
    t0 = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        x, y = next(batches)
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a run folder with data/ (default: synthetic)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.one is not None:
        print(json.dumps(step_seconds(args.run, args.one, args.steps)))  # noqa: T201 (child -> parent)
        return
    results: dict[int, list[float]] = {t: [] for t in args.threads}
    for _ in range(args.repeats):
        for t in args.threads:  # a fresh process per measurement: torch's thread pool is per process
            cmd = [sys.executable, __file__, "--one", str(t), "--steps", str(args.steps)]
            if args.run is not None:
                cmd += ["--run", str(args.run)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[t].append(float(out.strip().splitlines()[-1]))
            logger.info("threads %d: %.2f s/iteration", t, results[t][-1])
    base = np.mean(results[args.threads[0]])
    for t, v in results.items():
        logger.info("threads %d: mean %.2f s/iteration, speed-up vs %d thread(s) %.2f",
                    t, float(np.mean(v)), args.threads[0], base / float(np.mean(v)))


if __name__ == "__main__":
    main()
