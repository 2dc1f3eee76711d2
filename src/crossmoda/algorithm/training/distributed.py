"""Optional DistributedDataParallel: active when ``WORLD_SIZE`` > 1 (set by ``torchrun``).

The same code runs single-process on one CPU. Each rank draws its own patches (seed + rank);
gradients are averaged by DDP; only rank 0 writes files.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["world", "init_distributed", "is_main", "wrap_ddp", "barrier"]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` from the torchrun environment (``(0, 1)`` without it)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: torch.device) -> bool:
    """Initialise the process group once when ``WORLD_SIZE`` > 1 (NCCL on CUDA, Gloo on CPU)."""
    rank, size = world()
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return size > 1
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, rank=rank, world_size=size)
    return True


def is_main() -> bool:
    """True on rank 0 (and in single-process runs)."""
    return world()[0] == 0


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` wrapped in DDP when distributed, else unchanged."""
    if init_distributed(device):
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return model


def barrier() -> None:
    """Synchronise ranks (no-op single-process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
