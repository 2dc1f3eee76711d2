"""Device check: the algorithm's inference and the training stages' throughput on one machine.

Inference: the shipped model (or ``--model``) on ``full``-size hrT2 cases (generated with the
phantom, ``full`` preset, mirror-padded to 120 slices, unless ``--input`` is given): per case
the seconds of reading, localisation, crop, sliding window, post-processing, Koos and writing,
peak GPU memory, with mixed precision (the container's default on CUDA) and in float32, and the
Dice of each against the labels and between the two. Training: iterations per second and peak
GPU memory of the translation, segmentation and self-training steps of ``configs/gpu_full.json``
on synthetic crops of the recipe's shape (the cost of a step does not depend on the content),
plus the seconds of one augmented batch alone (the data loader runs in the training process).
With two or more GPUs (or ``--ddp on``) a 2-rank DistributedDataParallel run checks that the
ranks' weights stay identical. One table is logged and the whole result written as JSON.

    bash benchmarks/gpu_check.sh --output OUT            # GPU machine (see gpu_check.sh)
    python benchmarks/gpu_check.py --device cpu --input DIR --labels DIR --output OUT  # tiny CPU run

``--device cpu`` shrinks the training shapes (``--scale tiny``) so it runs in seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Everything this benchmark takes from the algorithm package, in one place.
from crossmoda.algorithm.inference.predictor import SegmentAndGrade, make_case_predictor
from crossmoda.algorithm.model.network import build_segmenter
from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.algorithm.training.config import TrainConfig, load_config
from crossmoda.algorithm.training.data import Volume, patch_batches
from crossmoda.algorithm.training.segment import train_segmenter
from crossmoda.algorithm.training.selftrain import pseudo_label
from crossmoda.algorithm.training.translation.loop import train_translation

logger = logging.getLogger("gpu_check")
ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "gpu_full.json"
TINY = {  # --scale tiny: the recipe's structure at shapes a CPU runs in seconds
    "preprocess": {"roi_shape": [32, 64, 96]},
    "translate": {"patch": 32, "batch_size": 2, "ngf": 8, "ndf": 8},
    "segment": {"patch": [32, 64, 64], "filters": [4, 8, 8, 8, 8, 8]},  # 6 levels: 2 voxels at the bottom
}


class PrecisionNet(torch.nn.Module):
    """Runs ``inner`` under its own autocast setting, whatever autocast the caller set: ``amp``
    True gives float16 on CUDA (bfloat16 on CPU), False float32 (TF32 matmuls as torch allows)."""

    def __init__(self, inner: torch.nn.Module, amp: bool) -> None:
        super().__init__()
        self.inner, self.amp = inner, amp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind = x.device.type
        dtype = torch.float16 if kind == "cuda" else torch.bfloat16
        with torch.autocast(kind, dtype=dtype, enabled=self.amp):
            out = self.inner(x if self.amp else x.float())
        assert isinstance(out, torch.Tensor)
        return out.float()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


# ---------------------------------------------------------------- inference ------------------

def _full_cases(work: Path, cases: int, seed: int, slices: int) -> tuple[Path, Path]:
    """``cases`` phantom ``full`` test cases, mirror-padded to ``slices`` slices."""
    from bench_algorithm import _pad_slices
    from crossmoda.phantom.config import PhantomConfig
    from crossmoda.phantom.dataset import generate_dataset

    data = work / "phantom"
    if not (data / "test").is_dir():
        generate_dataset(data, PhantomConfig(source=0, target=0, validation=0, test=cases, seed=seed,
                                             preset="full", workers=min(cases, os.cpu_count() or 1)),
                         progress=False)
    return _pad_slices(data / "test", data / "test_labels", work / "padded", slices)


def _dice(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...]) -> dict[str, float]:
    from crossmoda.core.labels import LABELS_2022
    from crossmoda.evaluation.case import CaseConfig, evaluate_arrays

    values = evaluate_arrays(pred, ref, spacing, CaseConfig(LABELS_2022, metrics=("Dice",)))
    return {k.replace("_Dice", ""): float(v) for k, v in values.items()}


def run_inference(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Per-case timings, peak memory and Dice with mixed precision and in float32."""
    from crossmoda.core.cases import discover_cases
    from crossmoda.core.io import Geometry, read_image, read_label_map, write_label_map_like
    from crossmoda.core.labels import LABELS_2022

    images, labels = args.input, args.labels
    if images is None:
        images, labels = _full_cases(args.work, args.cases, args.seed, args.min_slices)
    files = discover_cases(images, "hrT2").files
    truth = discover_cases(labels, "Label").files if labels is not None else {}
    t0 = time.perf_counter()
    predictor, _ = make_case_predictor(args.model or shipped_model_dir(), device=str(device))
    assert isinstance(predictor, SegmentAndGrade)
    startup = time.perf_counter() - t0
    net = predictor.model.net
    variants = {"amp": PrecisionNet(net, True), "fp32": PrecisionNet(net, False)}
    first = next(iter(files.values()))
    predictor(read_image(first))  # warm-up: CUDA context, cuDNN plans (not timed)
    rows: list[dict[str, Any]] = []
    for variant, net in variants.items():
        run = SegmentAndGrade(replace(predictor.model, net=net), predictor.koos, tta=False)
        for case, path in files.items():
            _sync(device)
            _reset_peak(device)
            t = time.perf_counter()
            image = read_image(path)
            read_s = time.perf_counter() - t
            out = run(image)
            _sync(device)
            t = time.perf_counter()
            write_label_map_like(out.labels, path, args.work / "output" / variant / f"{case}_Label.nii.gz",
                                 LABELS_2022)
            write_s = time.perf_counter() - t
            timings = {"read": read_s, **{k: v for k, v in out.timings_s.items() if k != "total"},
                       "write": write_s}
            timings["total"] = sum(timings.values())
            row: dict[str, Any] = {
                "case": case, "precision": variant, "size_xyz": list(image.GetSize()), "seconds": timings,
                "peak_gpu_gb": _peak_gb(device), "koos": out.koos_grade,
            }
            if case in truth:
                ref, _ = read_label_map(truth[case], LABELS_2022)
                row["dice"] = _dice(out.labels, ref, Geometry.from_image(image).spacing_mm)
            row["_labels"] = out.labels
            rows.append(row)
    by_case = {r["case"]: r for r in rows if r["precision"] == "fp32"}
    for r in rows:
        if r["precision"] == "amp":
            ref_row = by_case[r["case"]]
            r["dice_amp_vs_fp32"] = _dice(r["_labels"], ref_row["_labels"], (1.0, 1.0, 1.0))
            if "dice" in r:
                r["dice_change"] = {k: r["dice"][k] - ref_row["dice"][k] for k in r["dice"]}
    for r in rows:
        del r["_labels"]
    changes = [abs(v) for r in rows for v in r.get("dice_change", {}).values()]
    return {"startup_s": startup, "cases": rows,
            "max_abs_dice_change_amp": max(changes) if changes else None}


# ---------------------------------------------------------------- training -------------------

def _recipe(scale: str, device: torch.device) -> TrainConfig:
    data = json.loads(RECIPE.read_text(encoding="utf-8"))
    data["device"] = device.type
    if scale == "tiny":
        for key, value in TINY.items():
            data.setdefault(key, {}).update(value)
    path = Path(tempfile.mkstemp(suffix=".json")[1])
    path.write_text(json.dumps(data), encoding="utf-8")
    try:
        return load_config(path)
    finally:
        path.unlink()


def _volumes(shape: tuple[int, ...], n: int, seed: int) -> list[Volume]:
    """Synthetic crops with the five classes at plausible places and sizes (noise images)."""
    rng = np.random.default_rng(seed)
    z, y, x = shape
    out = []
    for k in range(n):
        image = rng.normal(0, 1, shape).astype(np.float32)
        label = np.zeros(shape, dtype=np.uint8)
        label[z // 4: 3 * z // 4, y // 2:, : x // 2] = 4
        label[z // 6: 5 * z // 6, y // 3: 2 * y // 3, 2 * x // 5: 3 * x // 5] = 3
        label[z // 3: z // 2, y // 3: y // 2, x // 6: x // 3] = 1
        for cx in (x // 10, 9 * x // 10):
            label[z // 2: z // 2 + 2, y // 3: y // 3 + 3, cx: cx + 3] = 2
        out.append(Volume(f"synthetic_{k}", image, label))
    return out


def _per_step(run: Callable[[int, Path], object], warm: int, steps: int, device: torch.device,
              tmp: Path) -> dict[str, float | None]:
    """Seconds per step from two runs (``warm`` and ``warm + steps`` steps) after an untimed one:
    set-up cancels out. ``None`` when the difference is lost in timing noise (raise ``--steps``)."""
    times = []
    for k, n in enumerate((1, warm, warm + steps)):
        _sync(device)
        _reset_peak(device)
        t = time.perf_counter()
        run(n, tmp / f"run{k}")
        _sync(device)
        times.append(time.perf_counter() - t)
    diff = times[2] - times[1]
    seconds = diff / steps if diff > 0 else None
    return {"s_per_it": seconds, "it_per_s": 1.0 / seconds if seconds else None,
            "peak_gpu_gb": _peak_gb(device)}


def run_training(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Throughput of each stage's step for the recipe (``--scale``) on synthetic crops."""
    cfg = _recipe(args.scale, device)
    shape = tuple(cfg.preprocess.roi_shape)
    source, target = _volumes(shape, 4, 0), _volumes(shape, 4, 1)
    for v in target:
        v.label[:] = 0
    out: dict[str, Any] = {
        "scale": args.scale, "roi_shape": list(shape), "segment_patch": list(cfg.segment.patch),
        "segment_filters": list(cfg.segment.filters), "translate_patch": cfg.translate.patch,
        "precision": {"translate": "fp32", "segment": "amp" if device.type == "cuda" else "fp32"},
    }
    seg = replace(cfg.segment, checkpoint_every=10**9)
    tr = replace(cfg.translate, checkpoint_every=10**9)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out["translate"] = _per_step(
            lambda n, d: train_translation(source, target, replace(tr, iterations=n), d, device=device,
                                           seed=0),
            2, args.steps, device, tmp / "translate")
        out["segment"] = _per_step(
            lambda n, d: train_segmenter(source, seg, d, device=device, seed=0, iterations=n, desc="segment"),
            2, args.steps, device, tmp / "segment")
        batches: Iterator[Any] = patch_batches(
            source, seg.patch, seg.batch_size, np.random.default_rng(0), seg.foreground_fraction, seg.augment,
            invert_prob=seg.invert_prob, remap_prob=seg.remap_prob, tumour_prob=seg.tumour_prob,
            cochlea_prob=seg.cochlea_prob or 0.0,
            edge_sigma=(seg.label_edge_sigma[0], seg.label_edge_sigma[1]),
            tumour_percentiles=(seg.tumour_percentiles[0], seg.tumour_percentiles[1]),
        )
        next(batches)
        t = time.perf_counter()
        for _ in range(args.steps):
            next(batches)
        out["segment"]["data_s_per_batch"] = (time.perf_counter() - t) / args.steps
        weights = train_segmenter(source, seg, tmp / "init", device=device, seed=0, iterations=1)
        net = _build(cfg, weights, device)
        _reset_peak(device)
        t = time.perf_counter()
        pseudo_label(net, [(v.case, v.image) for v in target], cfg.model_spec(), device)
        _sync(device)
        out["self_train"] = {"pseudo_label_s_per_crop": (time.perf_counter() - t) / len(target),
                             "peak_gpu_gb": _peak_gb(device),
                             "fine_tune": "the segment step (same network, patch and batch)"}
    out["recipe_iterations"] = {"translate": cfg.translate.iterations, "segment": cfg.segment.iterations,
                                "self_train": [cfg.self_train.rounds, cfg.self_train.iterations]}
    return out


def _build(cfg: TrainConfig, weights: dict[str, torch.Tensor], device: torch.device) -> torch.nn.Module:
    net = build_segmenter(cfg.segment.filters)
    net.load_state_dict(weights)
    return net.to(device)


# ---------------------------------------------------------------- DDP ------------------------

def _ddp_worker(rank: int, world: int, port: int, scale: str, kind: str, folder: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    device = torch.device(f"cuda:{rank}" if kind == "cuda" else "cpu")
    cfg = _recipe(scale, device)
    seg = replace(cfg.segment, checkpoint_every=10**9)
    volumes = _volumes(tuple(cfg.preprocess.roi_shape), 2, 0)
    t = time.perf_counter()
    weights = train_segmenter(volumes, seg, Path(folder) / "run", device=device, seed=0, iterations=4)
    seconds = time.perf_counter() - t
    total = float(sum(v.double().sum() for v in weights.values()))
    (Path(folder) / f"rank{rank}.json").write_text(json.dumps({"checksum": total, "seconds": seconds}))
    torch.distributed.destroy_process_group()


def run_ddp(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Two ranks train 4 segmentation steps under DDP; their weights must be identical."""
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if args.ddp == "off" or (args.ddp == "auto" and gpus < 2):
        return {"skipped": f"{gpus} GPU(s)" if args.ddp == "auto" else "--ddp off"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        torch.multiprocessing.spawn(_ddp_worker, args=(2, port, args.scale, device.type, folder), nprocs=2)
        ranks = [json.loads((Path(folder) / f"rank{r}.json").read_text()) for r in range(2)]
    return {"ranks": ranks, "weights_identical": ranks[0]["checksum"] == ranks[1]["checksum"],
            "backend": "nccl" if device.type == "cuda" else "gloo"}


# ---------------------------------------------------------------- report ---------------------

def environment(device: torch.device) -> dict[str, Any]:
    """Versions and the device, so a table says where it was measured."""
    import importlib.metadata as md

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "device": str(device), "cpu_count": os.cpu_count()}
    for name in ("monai", "SimpleITK", "nibabel", "numpy", "scipy"):
        try:
            env[name] = md.version(name)
        except md.PackageNotFoundError:
            env[name] = None
    if device.type == "cuda":
        env.update(gpu=torch.cuda.get_device_name(device), gpus=torch.cuda.device_count(),
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   tf32_conv=torch.backends.cudnn.allow_tf32)
    return env


def table(result: dict[str, Any]) -> str:
    """The result as one Markdown table (inference rows, then training rows)."""
    lines = ["| what | precision | read | localise | crop | sliding window | post-process | Koos | write | "
             "total s | peak GPU GB | VS / cochlea Dice |", "|" + "---|" * 12]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for r in result.get("inference", {}).get("cases", []):
        s, d = r["seconds"], r.get("dice", {})
        dice = f"{d['VS']:.3f} / {d['Cochlea']:.3f}" if d else "-"
        lines.append(f"| {r['case']} {'x'.join(map(str, r['size_xyz']))} | {r['precision']} | "
                     + " | ".join(fmt(s.get(k)) for k in ("read", "localise", "crop", "segment",
                                                          "postprocess", "koos", "write", "total"))
                     + f" | {fmt(r['peak_gpu_gb'])} | {dice} |")
    train = result.get("training", {})
    empty = " |" * 7
    for stage in ("translate", "segment"):
        if stage in train:
            row = train[stage]
            data = row.get("data_s_per_batch")
            extra = f", one augmented batch alone {data:.2f} s" if data is not None else ""
            lines.append(f"| train {stage} ({train['scale']}) | {train['precision'][stage]} | "
                         f"{fmt(row['it_per_s'])} it/s{extra} |{empty} {fmt(row['peak_gpu_gb'])} | |")
    if "self_train" in train:
        row = train["self_train"]
        lines.append(f"| pseudo-label ({train['scale']}) | {train['precision']['segment']} | "
                     f"{row['pseudo_label_s_per_crop']:.2f} s/crop |{empty} {fmt(row['peak_gpu_gb'])} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 when everything ran (the figures are reported, not judged)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(os.environ.get("OUT", "gpu_check_out")))
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--scale", default=None, choices=("recipe", "tiny"),
                        help="training shapes (default: recipe on CUDA, tiny on CPU)")
    parser.add_argument("--input", type=Path, default=None, help="hrT2 folder (default: generate full cases)")
    parser.add_argument("--labels", type=Path, default=None, help="label folder for --input")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: shipped adapted)")
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--min-slices", type=int, default=120)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per stage")
    parser.add_argument("--ddp", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--skip", nargs="*", default=[], choices=("inference", "training", "ddp"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    kind = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(kind)
    args.scale = args.scale or ("recipe" if kind == "cuda" else "tiny")
    args.output.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory() if args.work is None else None
    args.work = args.work or Path(scratch.name)  # type: ignore[union-attr]
    result: dict[str, Any] = {"environment": environment(device)}
    steps = (("inference", run_inference), ("training", run_training), ("ddp", run_ddp))
    for name, fn in steps:
        if name in args.skip:
            continue
        t = time.perf_counter()
        result[name] = fn(args, device)
        result[name]["wall_s"] = time.perf_counter() - t
        logger.info("%s done in %.1f s", name, result[name]["wall_s"])
        (args.output / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    text = table(result)
    (args.output / "gpu_check.md").write_text(text + "\n", encoding="utf-8")
    logger.info("%s\n%s", json.dumps(result["environment"]), text)
    if "ddp" in result:
        logger.info("DDP: %s", json.dumps(result["ddp"]))
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
