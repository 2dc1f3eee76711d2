"""Learning-rate schedules of the training loops: a factor of the base rate per iteration."""

from __future__ import annotations

import torch

__all__ = ["poly_decay", "linear_decay_second_half", "set_learning_rates"]


def poly_decay(iteration: int, total: int, power: float = 0.9) -> float:
    """nnU-Net's polynomial decay: ``(1 - iteration / total) ** power``."""
    return (1 - iteration / total) ** power


def linear_decay_second_half(iteration: int, total: int) -> float:
    """1 for the first half of training, then linearly down to 0 (CycleGAN's schedule)."""
    return 1.0 - max(0.0, (iteration - total / 2) / (total / 2))


def set_learning_rates(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    """Every parameter group's rate = its own ``base_lr`` entry (else ``base_lr``) x ``factor``."""
    for group in optimizer.param_groups:
        group["lr"] = group.get("base_lr", base_lr) * factor
