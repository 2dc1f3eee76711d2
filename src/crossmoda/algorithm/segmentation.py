"""3D segmenter: MONAI DynUNet (nnU-Net family), Dice + cross-entropy, patch training with
resume, and sliding-window prediction. Needs only torch, numpy and MONAI."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from crossmoda.algorithm.config import CLASS_NAMES, SegmentConfig
from crossmoda.algorithm.data import Volume, patch_batches
from crossmoda.algorithm.distributed import barrier, is_main, world, wrap_ddp

__all__ = [
    "resolve_device",
    "build_segmenter",
    "train_segmenter",
    "predict_volume",
    "save_state",
    "load_state",
]

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (``cuda:LOCAL_RANK`` under torchrun) or ``"auto"``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda requested but no CUDA device is available")
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    return torch.device(name)


def build_segmenter(
    cfg: SegmentConfig, in_channels: int = 1, out_channels: int = len(CLASS_NAMES)
) -> torch.nn.Module:
    """A DynUNet for anisotropic ``(z, y, x)`` crops: the first level convolves in-plane only and
    does not downsample z; later levels halve every axis (z only from level 3)."""
    from monai.networks.nets import DynUNet

    n = len(cfg.filters)
    kernels = [[1, 3, 3]] + [[3, 3, 3]] * (n - 1)
    strides = [[1, 1, 1], [1, 2, 2]] + [[2, 2, 2]] * (n - 2)
    return DynUNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=kernels,
        strides=strides,
        upsample_kernel_size=strides[1:],
        filters=list(cfg.filters),
        norm_name="instance",
        res_block=True,
    )


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Atomic ``torch.save`` (temporary file then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".partial-{path.name}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` onto the CPU."""
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    inner = getattr(model, "module", model)
    assert isinstance(inner, torch.nn.Module)
    return inner


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
) -> dict[str, torch.Tensor]:
    """Train (or resume) a segmenter on random patches of ``volumes``; returns its state dict.

    Writes ``out_dir/checkpoint.pt`` every ``cfg.checkpoint_every`` iterations (model, optimiser,
    iteration) and ``out_dir/model.pt`` (weights only) at the end; an existing ``model.pt`` is
    returned as is, an existing checkpoint is resumed. Patches are drawn from
    ``numpy.random.default_rng([seed, rank, start_iteration])`` so a resumed run is deterministic.
    """
    from monai.losses import DiceCELoss

    final, ckpt = out_dir / "model.pt", out_dir / "checkpoint.pt"
    if final.exists():
        logger.info("%s: %s exists, skipping training", desc, final)
        return load_state(final)
    total = int(iterations if iterations is not None else cfg.iterations)
    base_lr = float(lr if lr is not None else cfg.lr)
    torch.manual_seed(seed)
    net = build_segmenter(cfg)
    if init_weights is not None:
        net.load_state_dict(init_weights)
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=base_lr, weight_decay=cfg.weight_decay)
    start = 0
    if ckpt.exists():
        state = load_state(ckpt)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["iteration"])
        logger.info("%s: resuming at iteration %d/%d", desc, start, total)
    model = wrap_ddp(net, device)
    rank, _ = world()
    rng = np.random.default_rng([seed, rank, start])
    batches = patch_batches(volumes, cfg.patch, cfg.batch_size, rng, cfg.foreground_fraction, cfg.augment,
                            invert_prob=cfg.invert_prob or 0.0, remap_prob=cfg.remap_prob or 0.0,
                            tumour_prob=cfg.tumour_prob, cochlea_prob=cfg.cochlea_prob or 0.0,
                            edge_sigma=(cfg.label_edge_sigma[0], cfg.label_edge_sigma[1]),
                            tumour_percentiles=(cfg.tumour_percentiles[0], cfg.tumour_percentiles[1]))
    weight = torch.tensor(cfg.class_weights, dtype=torch.float32, device=device)
    if weight.numel() != len(CLASS_NAMES):
        raise ValueError(
            f"class_weights needs {len(CLASS_NAMES)} values {CLASS_NAMES}, got {cfg.class_weights}"
        )
    # MONAI >= 1.5: ``weight`` weighs the classes in both the cross-entropy and the Dice term
    # (background excluded from the latter).
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True, weight=weight)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    model.train()
    bar = tqdm(
        range(start, total), desc=desc, initial=start, total=total, disable=not is_main(), dynamic_ncols=True
    )
    running = None
    for it in bar:
        for group in opt.param_groups:  # poly decay (nnU-Net)
            group["lr"] = base_lr * (1 - it / total) ** 0.9
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 12.0)
        scaler.step(opt)
        scaler.update()
        value = float(loss.detach())
        running = value if running is None or not math.isfinite(running) else 0.95 * running + 0.05 * value
        bar.set_postfix(loss=f"{running:.3f}")
        done = it + 1
        if is_main() and (done % cfg.checkpoint_every == 0 and done < total):
            save_state(
                ckpt, {"model": _unwrap(model).state_dict(), "optimizer": opt.state_dict(), "iteration": done}
            )
    weights = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    if is_main():
        save_state(final, weights)
        if ckpt.exists():
            ckpt.unlink()
        logger.info(
            "%s: final loss %.4f, weights %s", desc, running if running is not None else float("nan"), final
        )
    barrier()
    return weights


@torch.no_grad()
def predict_volume(
    net: torch.nn.Module,
    image: npt.NDArray[np.float32],
    cfg: SegmentConfig,
    device: torch.device,
    *,
    tta: bool = False,
) -> npt.NDArray[np.float32]:
    """Softmax probabilities ``(C, z, y, x)`` of a normalised crop ``(z, y, x)`` by sliding windows
    (Gaussian blending, ``cfg.sw_overlap``); ``tta`` averages with the left-right flip. Mixed
    precision on CUDA."""
    from monai.inferers import sliding_window_inference

    net.eval()
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(device)
    use_amp = device.type == "cuda"

    def run(inp: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            out = sliding_window_inference(inp, cfg.patch, 4, net, overlap=cfg.sw_overlap, mode="gaussian")
        assert isinstance(out, torch.Tensor)
        return torch.softmax(out.float(), dim=1)

    probs = run(x)
    if tta:
        probs = 0.5 * (probs + torch.flip(run(torch.flip(x, dims=[4])), dims=[4]))
    return probs[0].cpu().numpy().astype(np.float32)
