"""The segmentation network of a model folder: build it from its :class:`NetworkSpec`, save and
load its weights, pick the device."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from crossmoda.algorithm.model.spec import CLASS_NAMES
from crossmoda.core.cli import env_int
from crossmoda.core.errors import CrossmodaError

__all__ = ["DeviceError", "resolve_device", "build_segmenter", "save_state", "load_state", "unwrap"]


class DeviceError(CrossmodaError):
    """A device name that is not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, or not on this machine."""

    def __init__(self, problem: str) -> None:
        super().__init__(None, problem)


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (``cuda:LOCAL_RANK`` under torchrun), ``"cuda:N"`` or ``"auto"``.

    Raises:
        DeviceError: an unknown name, no CUDA device, or a device index this machine lacks.
    """
    text = name.strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    kind, _, index_text = text.partition(":")
    if kind != "cuda" or (index_text and not index_text.isdigit()):
        raise DeviceError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} requested but no CUDA device is available")
    index = int(index_text) if index_text else env_int("LOCAL_RANK", 0, minimum=0) or 0
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"device cuda:{index} requested but this machine has {count} CUDA device(s)")
    return torch.device(f"cuda:{index}")


def build_segmenter(
    filters: Sequence[int], in_channels: int = 1, out_channels: int = len(CLASS_NAMES)
) -> torch.nn.Module:
    """A DynUNet for anisotropic ``(z, y, x)`` crops: the first level convolves in-plane only and
    does not downsample z; later levels halve every axis (z only from level 3). ``filters``: the
    channels of each level (:attr:`NetworkSpec.filters`)."""
    from monai.networks.nets import DynUNet

    n = len(filters)
    kernels = [[1, 3, 3]] + [[3, 3, 3]] * (n - 1)
    strides = [[1, 1, 1], [1, 2, 2]] + [[2, 2, 2]] * (n - 2)
    return DynUNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=kernels,
        strides=strides,
        upsample_kernel_size=strides[1:],
        filters=list(filters),
        norm_name="instance",
        res_block=True,
    )


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Atomic ``torch.save`` (a temporary file of its own, then a rename): two writers never share
    a temporary name."""
    from crossmoda.core.provenance import publish_atomic

    publish_atomic(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` onto the CPU."""
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or ``model`` itself)."""
    inner = getattr(model, "module", model)
    assert isinstance(inner, torch.nn.Module)
    return inner
