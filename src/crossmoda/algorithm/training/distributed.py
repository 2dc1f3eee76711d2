"""Optional DistributedDataParallel: active when ``WORLD_SIZE`` > 1 (set by ``torchrun``).

The same code runs single-process on one CPU. Under ``torchrun`` the process group is set up once,
before the first stage (:func:`init_distributed`); each rank draws its own patches
(``[seed, rank, ...]``); gradients are averaged by DDP; only rank 0 writes files, validates and
logs at INFO (:func:`quiet_other_ranks`); the others wait at a barrier meanwhile.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

__all__ = ["BARRIER_TIMEOUT", "world", "init_distributed", "close_distributed", "is_main", "wrap_ddp",
           "barrier", "quiet_other_ranks", "gather_lists",
           "broadcast_from_main"]

T = TypeVar("T")

# Rank 0 alone prepares the data, exports and validates models; the other ranks wait at a barrier
# that long (preparing hundreds of full-size cases takes far more than torch's default 30 minutes).
BARRIER_TIMEOUT = timedelta(hours=float(os.environ.get("CROSSMODA_BARRIER_TIMEOUT_H", "12")))


def world() -> tuple[int, int]:
    """``(rank, world_size)`` from the torchrun environment (``(0, 1)`` without it)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: torch.device) -> bool:
    """Initialise the process group once when ``WORLD_SIZE`` > 1 (NCCL on CUDA, Gloo on CPU);
    True when distributed. Call it before any rank-dependent step: barriers are no-ops before."""
    rank, size = world()
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return size > 1
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, rank=rank, world_size=size, timeout=BARRIER_TIMEOUT)
    return True


def close_distributed() -> None:
    """Destroy the process group (after a last barrier) when one was set up."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def quiet_other_ranks() -> None:
    """On ranks other than 0: log WARNING and above only, and no progress bars (``TQDM_DISABLE``)."""
    if not is_main():
        logging.getLogger().setLevel(logging.WARNING)
        os.environ["TQDM_DISABLE"] = "1"


def is_main() -> bool:
    """True on rank 0 (and in single-process runs)."""
    return world()[0] == 0


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` wrapped in DDP when distributed, else unchanged (parameters broadcast from rank 0)."""
    if init_distributed(device):
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return model


def barrier() -> None:
    """Synchronise ranks (no-op single-process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def gather_lists(local: list[T]) -> list[T]:
    """Every rank's ``local`` list (picklable items), concatenated in rank order, on every rank;
    ``local`` itself single-process."""
    if not (dist.is_available() and dist.is_initialized()):
        return local
    parts: list[list[T] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, local)
    return [item for part in parts for item in (part or [])]


def broadcast_from_main(value: T) -> T:
    """Rank 0's ``value`` (picklable) on every rank; ``value`` itself single-process."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box: list[T] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
