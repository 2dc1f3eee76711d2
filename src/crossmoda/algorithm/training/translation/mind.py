"""Modality-independent neighbourhood descriptor (MIND; Heinrich et al., Med Image Anal 2012) in 2D.

MIND describes each pixel by how similar its small neighbourhood is to the neighbourhoods one
pixel away in each of four directions, normalised by the local variance, so it marks *where*
edges are and not which side is bright: it is the same for an image and any (even non-monotone)
intensity remapping of it. As a loss between a CycleGAN's input and output (the
structure-constrained CycleGAN of Yang et al., DLMIA 2018) it holds the translated image's edges
where the source image has them, which a pointwise-intensity generator gets wrong at
partial-volume voxels (a voxel half bright tumour and half dark CSF on ceT1 has grey matter's
intensity and is painted like grey matter on pseudo-hrT2, moving the tumour's edge outwards).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["mind_descriptor", "mind_loss"]

_SHIFTS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (0, -1), (-1, 0))


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (``sigma`` pixels) of ``(B, C, H, W)``, replicate padding."""
    r = max(1, int(round(2 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    x = nn.functional.pad(x, (r, r, r, r), mode="replicate")
    x = nn.functional.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return nn.functional.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` moved by ``(dy, dx)`` pixels, edges replicated: ``out[i, j] = x[i - dy, j - dx]``."""
    h, w = x.shape[-2:]
    x = nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    return x[..., 1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]


def mind_descriptor(x: torch.Tensor, sigma: float = 0.8, floor: float = 0.1) -> torch.Tensor:
    """MIND of ``(B, 1, H, W)`` images: ``(B, 4, H, W)`` in ``(0, 1]``.

    ``D_r`` = Gaussian-weighted (``sigma`` px) patch distance between each pixel and its
    neighbour ``r`` (4-neighbourhood); ``V`` = mean of ``D_r`` over ``r`` plus ``floor`` times its
    image mean (so the noise of flat regions, which differs between scanners, does not dominate);
    descriptor ``exp(-D_r / V)``, divided by its maximum over ``r``.
    """
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected (B, 1, H, W), got {tuple(x.shape)}")
    d = torch.cat([_gauss_blur((x - _shift(x, dy, dx)) ** 2, sigma) for dy, dx in _SHIFTS], dim=1)
    v = d.mean(dim=1, keepdim=True)
    v = v + floor * v.mean(dim=(2, 3), keepdim=True) + 1e-6
    m = torch.exp(-d / v)
    return m / m.amax(dim=1, keepdim=True)


def mind_loss(a: torch.Tensor, b: torch.Tensor, sigma: float = 0.8) -> torch.Tensor:
    """Mean absolute difference of the MIND descriptors of ``a`` and ``b`` (``(B, 1, H, W)``)."""
    return (mind_descriptor(a, sigma) - mind_descriptor(b, sigma)).abs().mean()
