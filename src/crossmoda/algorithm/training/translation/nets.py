"""Networks of the ceT1 -> hrT2 translation (:mod:`crossmoda.algorithm.training.translation.loop`).

Generators (``resnet``: the CycleGAN ResNet generator of Zhu et al. 2017; ``local``: a small
receptive field and no normalisation, a learned intensity mapping with a little context;
``curve``: a learned intensity curve plus a local residual), the PatchGAN
discriminator and the small 2D structure segmenter ``S``. Shapes: ``(n, c, P, P)``.
"""

from __future__ import annotations

import torch
from torch import nn

from crossmoda.algorithm.training.config import TranslateConfig

__all__ = [
    "ResnetGenerator",
    "LocalGenerator",
    "CurveGenerator",
    "build_generator",
    "PatchDiscriminator",
    "build_translation_nets",
]


class _ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            nn.InstanceNorm2d(ch),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            nn.InstanceNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks, two upsamplings,
    c7s1-1; input/output ``(B, 1, H, W)`` z-scored images (H, W multiples of 4), linear output."""

    def __init__(self, ngf: int = 16, n_blocks: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(1, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        ch = ngf
        for _ in range(2):
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(ch * 2),
                nn.ReLU(True),
            ]
            ch *= 2
        layers += [_ResBlock(ch) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(ch, ch // 2, 3, padding=1),
                nn.InstanceNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, 1, 7)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """70x70-style PatchGAN with three stride-2 layers; ``(B, 1, H, W)`` -> ``(B, 1, h, w)`` scores."""

    def __init__(self, ndf: int = 16, in_channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1),
            nn.InstanceNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1),
            nn.InstanceNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 4, ndf * 4, 4, 1, 1),
            nn.InstanceNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LocalGenerator(nn.Module):
    """A generator with a small receptive field (``2 * n_context + 1`` pixels) and no normalisation:
    ``n_context`` 3x3 convolutions, then 1x1 convolutions, i.e. a learned intensity mapping with a
    little spatial context. ceT1 -> hrT2 is close to a (non-monotone) function of the local
    intensity, which such a net learns in hundreds of iterations rather than the ResNet's
    tens of thousands; without instance norm the absolute (z-scored) intensity is kept.
    Input/output ``(B, 1, H, W)``, any H, W."""

    def __init__(self, ngf: int = 32, n_context: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 1
        for _ in range(n_context):
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, ngf, 3), nn.LeakyReLU(0.2, True)]
            ch = ngf
        layers += [nn.Conv2d(ch, ngf, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(ngf, ngf, 1),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ngf, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CurveGenerator(nn.Module):
    """A learned intensity curve plus a small residual context net: ``G(x) = f(x) + r(x)``, with
    ``f`` piecewise linear on ``n_knots`` knots over z-scores ``[-4, 4]`` (one free height per
    knot, so every intensity band moves on its own gradient and the curve may be non-monotone)
    and ``r`` a :class:`LocalGenerator` whose last layer starts at zero, so ``G`` starts as the
    identity (ceT1 and hrT2 agree on the darkest tissues, bone and air; starting from the
    identity keeps them dark while the fluid and the tumour change places, where a freshly
    initialised generator settles in the contrast negation, bone bright, within 100 iterations
    and never leaves it). Input/output ``(B, 1, H, W)``."""

    def __init__(self, ngf: int = 16, n_context: int = 2, n_knots: int = 33, span: float = 4.0) -> None:
        super().__init__()
        self.register_buffer("knots", torch.linspace(-span, span, n_knots))
        self.heights = nn.Parameter(torch.linspace(-span, span, n_knots))  # starts as the identity
        self.context = LocalGenerator(ngf, n_context)
        last = self.context.net[-1]
        if not isinstance(last, nn.Conv2d) or last.bias is None:
            raise TypeError("LocalGenerator must end in a biased convolution")
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def curve(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x)``: linear interpolation of the knot heights (constant beyond the span)."""
        knots: torch.Tensor = self.knots  # type: ignore[assignment]
        n = knots.numel()
        step = knots[1] - knots[0]
        pos = ((x - knots[0]) / step).clamp(0, n - 1 - 1e-6)
        i = pos.floor().long()
        w = pos - i
        return self.heights[i] * (1 - w) + self.heights[i + 1] * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.curve(x) + self.context(x)


def build_generator(cfg: TranslateConfig) -> nn.Module:
    """``cfg.generator``: ``resnet`` (:class:`ResnetGenerator`) or ``local`` (:class:`LocalGenerator`)."""
    if cfg.generator == "resnet":
        return ResnetGenerator(cfg.ngf, cfg.n_blocks)
    if cfg.generator == "local":
        return LocalGenerator(cfg.ngf, cfg.n_blocks)
    if cfg.generator == "curve":
        return CurveGenerator(cfg.ngf, cfg.n_blocks)
    raise ValueError(f"unknown generator {cfg.generator!r} (resnet, local, curve)")


def _small_segmenter() -> nn.Module:
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=3,
        channels=(16, 32, 64),
        strides=(2, 2),
        num_res_units=1,
        norm="instance",
    )


def build_translation_nets(cfg: TranslateConfig) -> dict[str, nn.Module]:
    """The five networks: ``G_A``, ``G_B``, ``D_A``, ``D_B`` and the structure segmenter ``S``."""
    return {
        "G_A": build_generator(cfg),
        "G_B": build_generator(cfg),
        "D_A": PatchDiscriminator(cfg.ndf, 4 if cfg.d_coords else 1),
        "D_B": PatchDiscriminator(cfg.ndf, 4 if cfg.d_coords else 1),
        "S": _small_segmenter(),
    }
