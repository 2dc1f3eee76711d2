"""Segmenter training: the DynUNet of :mod:`crossmoda.algorithm.model.network` on random patches,
Dice + cross-entropy, checkpoints and resume, DDP under torchrun."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from crossmoda.algorithm.model.network import build_segmenter, load_state, save_state, unwrap
from crossmoda.algorithm.model.spec import class_roles, segmenter_classes
from crossmoda.algorithm.training.config import CLASS_WEIGHTS, SegmentConfig
from crossmoda.algorithm.training.data import Volume, patch_batches
from crossmoda.algorithm.training.distributed import barrier, is_main, world, wrap_ddp
from crossmoda.algorithm.training.schedules import poly_decay, set_learning_rates

__all__ = ["train_segmenter"]

logger = logging.getLogger(__name__)


def _loss(cfg: SegmentConfig, device: torch.device, label_map: str) -> torch.nn.Module:
    """Dice + cross-entropy with ``cfg.class_weights`` (one per segmenter class of ``label_map``;
    ``None``: :data:`~crossmoda.algorithm.training.config.CLASS_WEIGHTS`); MONAI >= 1.5 weighs
    the classes in both terms (background excluded from the Dice term)."""
    from monai.losses import DiceCELoss

    classes = segmenter_classes(label_map)
    values = CLASS_WEIGHTS[label_map] if cfg.class_weights is None else cfg.class_weights
    if len(values) != len(classes):
        raise ValueError(f"class_weights needs {len(classes)} values {classes}, got {values}")
    weight = torch.tensor(values, dtype=torch.float32, device=device)
    return DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True, weight=weight)


def _batches(volumes: Sequence[Volume], cfg: SegmentConfig, rng: np.random.Generator,
             label_map: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The endless stream of augmented training batches ``cfg`` describes."""
    return patch_batches(volumes, cfg.patch, cfg.batch_size, rng, cfg.foreground_fraction, cfg.augment,
                         invert_prob=cfg.invert_prob, remap_prob=cfg.remap_prob,
                         tumour_prob=cfg.tumour_prob, cochlea_prob=cfg.cochlea_prob or 0.0,
                         edge_sigma=(cfg.label_edge_sigma[0], cfg.label_edge_sigma[1]),
                         tumour_percentiles=(cfg.tumour_percentiles[0], cfg.tumour_percentiles[1]),
                         roles=class_roles(label_map))


def _resume(ckpt: Path, net: torch.nn.Module, opt: torch.optim.Optimizer) -> int:
    """Load ``ckpt`` into ``net`` and ``opt`` when it exists; the iteration to start from."""
    if not ckpt.exists():
        return 0
    state = load_state(ckpt)
    net.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    return int(state["iteration"])


def _step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
    loss_fn: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor], device: torch.device,
) -> float:
    """One optimiser step on ``batch`` (mixed precision on CUDA, gradients clipped at norm 12)."""
    x, y = (t.to(device, non_blocking=True) for t in batch)
    with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        loss = loss_fn(model(x), y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 12.0)
    scaler.step(opt)
    scaler.update()
    return float(loss.detach())


def train_segmenter(
    volumes: Sequence[Volume],
    cfg: SegmentConfig,
    out_dir: Path,
    *,
    device: torch.device,
    seed: int,
    iterations: int | None = None,
    lr: float | None = None,
    init_weights: dict[str, torch.Tensor] | None = None,
    desc: str = "segment",
    label_map: str = "crossmoda2022",
) -> dict[str, torch.Tensor]:
    """Train (or resume) a segmenter of the classes of ``label_map`` on random patches of
    ``volumes``; returns its state dict.

    Writes ``out_dir/checkpoint.pt`` every ``cfg.checkpoint_every`` iterations (model, optimiser,
    iteration) and ``out_dir/model.pt`` (weights only) at the end; an existing ``model.pt`` is
    returned as is, an existing checkpoint is resumed. Patches are drawn from
    ``numpy.random.default_rng([seed, rank, start_iteration])`` so a resumed run is deterministic.
    """
    final, ckpt = out_dir / "model.pt", out_dir / "checkpoint.pt"
    if final.exists():
        logger.info("%s: %s exists, skipping training", desc, final)
        return load_state(final)
    total = int(iterations if iterations is not None else cfg.iterations)
    base_lr = float(lr if lr is not None else cfg.lr)
    torch.manual_seed(seed)
    net = build_segmenter(cfg.filters, out_channels=len(segmenter_classes(label_map)))
    if init_weights is not None:
        net.load_state_dict(init_weights)
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=base_lr, weight_decay=cfg.weight_decay)
    start = _resume(ckpt, net, opt)
    if start:
        logger.info("%s: resuming at iteration %d/%d", desc, start, total)
    model = wrap_ddp(net, device)
    rank, _ = world()
    batches = _batches(volumes, cfg, np.random.default_rng([seed, rank, start]), label_map)
    loss_fn = _loss(cfg, device, label_map)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    model.train()
    bar = tqdm(
        range(start, total), desc=desc, initial=start, total=total, disable=not is_main(), dynamic_ncols=True
    )
    running = None
    for it in bar:
        set_learning_rates(opt, base_lr, poly_decay(it, total))
        value = _step(model, opt, scaler, loss_fn, next(batches), device)
        running = value if running is None or not math.isfinite(running) else 0.95 * running + 0.05 * value
        bar.set_postfix(loss=f"{running:.3f}")
        done = it + 1
        if is_main() and (done % cfg.checkpoint_every == 0 and done < total):
            save_state(
                ckpt, {"model": unwrap(model).state_dict(), "optimizer": opt.state_dict(), "iteration": done}
            )
    weights = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    if is_main():
        save_state(final, weights)
        if ckpt.exists():
            ckpt.unlink()
        logger.info(
            "%s: final loss %.4f, weights %s", desc, running if running is not None else float("nan"), final
        )
    barrier()
    return weights
