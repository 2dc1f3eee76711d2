"""Unpaired ceT1 -> hrT2 translation: a small 2D CycleGAN on axial patches of the crops.

Names in the code and in the paper (Zhu et al. 2017, as in pytorch-CycleGAN):
``G_A`` (G: ceT1 -> hrT2), ``G_B`` (F: hrT2 -> ceT1), ``D_A`` (D_Y: judges hrT2),
``D_B`` (D_X: judges ceT1). Losses: least-squares GAN, cycle consistency, identity, and a
small-structure term: a 2D segmenter ``S`` (VS, cochlea) trained on ``G_A(ceT1)`` with the source
labels, whose loss also flows into ``G_A`` so the cochleas and the tumour stay visible in the
pseudo-hrT2 (the segmentation-consistency idea of PAST 2.0 and MAI in crossMoDA 2022).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from crossmoda.algorithm.config import TranslateConfig
from crossmoda.algorithm.data import Volume
from crossmoda.algorithm.segmentation import load_state, save_state

__all__ = [
    "ResnetGenerator",
    "LocalGenerator",
    "build_generator",
    "PatchDiscriminator",
    "build_translation_nets",
    "train_translation",
    "translate_volume",
]

logger = logging.getLogger(__name__)


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

    def __init__(self, ndf: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1),
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


def build_generator(cfg: TranslateConfig) -> nn.Module:
    """``cfg.generator``: ``resnet`` (:class:`ResnetGenerator`) or ``local`` (:class:`LocalGenerator`)."""
    if cfg.generator == "resnet":
        return ResnetGenerator(cfg.ngf, cfg.n_blocks)
    if cfg.generator == "local":
        return LocalGenerator(cfg.ngf, cfg.n_blocks)
    raise ValueError(f"unknown generator {cfg.generator!r} (resnet, local)")


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
        "D_A": PatchDiscriminator(cfg.ndf),
        "D_B": PatchDiscriminator(cfg.ndf),
        "S": _small_segmenter(),
    }


def _slice_patches(
    vols: Sequence[Volume], n: int, patch: int, rng: np.random.Generator, label_frac: float,
    prior: Sequence[Volume] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` axial ``patch x patch`` patches ``(n, 1, P, P)`` and their labels (0 bg, 1 VS, 2 cochlea).

    A fraction ``label_frac`` of the patches is centred (with jitter) on a VS or cochlea voxel:
    of the volume itself, or, with ``prior`` (labelled volumes on the same crop grid), on a voxel
    of a random ``prior`` volume, a location prior for unlabelled volumes. The crops are centred
    on both canals, so the prior lands near the canals, where a target tumour and the cochleas
    lie; the discriminator then sees real hrT2 canal regions as often as translated ones.
    """
    imgs, lbls = [], []
    for _ in range(n):
        v = vols[int(rng.integers(len(vols)))]
        z_n, y_n, x_n = v.image.shape
        where = v if prior is None else prior[int(rng.integers(len(prior)))]
        fg = [c for c in (1, 2) if len(where.fg_index[c])]
        if fg and rng.random() < label_frac:
            pts = where.fg_index[fg[int(rng.integers(len(fg)))]]
            z, yc, xc = pts[int(rng.integers(len(pts)))]
            z = min(int(z), z_n - 1)
            jitter = rng.integers(-patch // 4, patch // 4 + 1, size=2)
            y0 = int(np.clip(yc - patch // 2 + jitter[0], 0, max(y_n - patch, 0)))
            x0 = int(np.clip(xc - patch // 2 + jitter[1], 0, max(x_n - patch, 0)))
        else:
            z = int(rng.integers(z_n))
            y0, x0 = int(rng.integers(max(y_n - patch, 0) + 1)), int(rng.integers(max(x_n - patch, 0) + 1))
        img = v.image[z, y0 : y0 + patch, x0 : x0 + patch]
        raw = v.label[z, y0 : y0 + patch, x0 : x0 + patch]
        lbl = np.where(raw <= 2, raw, 0)
        if rng.random() < 0.5:
            img, lbl = img[:, ::-1], lbl[:, ::-1]
        imgs.append(np.ascontiguousarray(img))
        lbls.append(np.ascontiguousarray(lbl))
    return (
        torch.from_numpy(np.stack(imgs)[:, None].astype(np.float32)),
        torch.from_numpy(np.stack(lbls)[:, None].astype(np.int64)),
    )


def _ls(pred: torch.Tensor, value: float) -> torch.Tensor:
    """Least-squares GAN loss against a constant target."""
    return torch.mean((pred - value) ** 2)


def train_translation(
    source: Sequence[Volume],
    target: Sequence[Volume],
    cfg: TranslateConfig,
    out_dir: Path,
    *,
    device: torch.device,
    seed: int,
) -> dict[str, torch.Tensor]:
    """Train (or resume) the CycleGAN; returns the ``G_A`` state dict (ceT1 -> hrT2).

    ``source``: ceT1 crops with labels; ``target``: hrT2 crops (labels unused). Writes
    ``out_dir/checkpoint.pt`` (all nets, optimisers, iteration) and ``out_dir/G_A.pt``.
    """
    from monai.losses import DiceCELoss

    final, ckpt = out_dir / "G_A.pt", out_dir / "checkpoint.pt"
    if final.exists():
        return load_state(final)
    torch.manual_seed(seed)
    nets = build_translation_nets(cfg)
    for net in nets.values():
        net.to(device).train()
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam([*nets["G_A"].parameters(), *nets["G_B"].parameters()], lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam([*nets["D_A"].parameters(), *nets["D_B"].parameters()], lr=cfg.lr, betas=betas)
    opt_s = torch.optim.Adam(nets["S"].parameters(), lr=1e-3)
    start = 0
    if ckpt.exists():
        state = load_state(ckpt)
        for name, net in nets.items():
            net.load_state_dict(state[name])
        for name, opt in (("opt_g", opt_g), ("opt_d", opt_d), ("opt_s", opt_s)):
            opt.load_state_dict(state[name])
        start = int(state["iteration"])
        logger.info("translate: resuming at iteration %d/%d", start, cfg.iterations)
    rng = np.random.default_rng([seed, start])
    l1 = nn.L1Loss()
    seg_loss = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)
    G_A, G_B, D_A, D_B, S = (nets[k] for k in ("G_A", "G_B", "D_A", "D_B", "S"))  # noqa: N806
    bar = tqdm(
        range(start, cfg.iterations),
        desc="translate",
        initial=start,
        total=cfg.iterations,
        dynamic_ncols=True,
    )
    for it in bar:
        frac = 1.0 - max(0.0, (it - cfg.iterations / 2) / (cfg.iterations / 2))  # linear decay, 2nd half
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * frac
        real_a, lbl_a = _slice_patches(source, cfg.batch_size, cfg.patch, rng, cfg.label_patch_fraction)
        real_b, _ = _slice_patches(target, cfg.batch_size, cfg.patch, rng, cfg.target_prior_fraction,
                                   prior=source)
        real_a, lbl_a, real_b = real_a.to(device), lbl_a.to(device), real_b.to(device)
        # generators (+ structure term through S)
        fake_b, fake_a = G_A(real_a), G_B(real_b)
        loss_gan = _ls(D_A(fake_b), 1.0) + _ls(D_B(fake_a), 1.0)
        loss_cyc = l1(G_B(fake_b), real_a) + l1(G_A(fake_a), real_b)
        loss_idt = l1(G_A(real_b), real_b) + l1(G_B(real_a), real_a)
        loss_seg = seg_loss(S(fake_b), lbl_a)
        loss_g = (
            loss_gan
            + cfg.lambda_cycle * loss_cyc
            + cfg.lambda_cycle * cfg.lambda_identity * loss_idt
            + cfg.lambda_seg * loss_seg
        )
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # discriminators and S on detached fakes
        fb, fa = fake_b.detach(), fake_a.detach()
        loss_d = 0.5 * (_ls(D_A(real_b), 1.0) + _ls(D_A(fb), 0.0) + _ls(D_B(real_a), 1.0) + _ls(D_B(fa), 0.0))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_s = seg_loss(S(fb), lbl_a)
        opt_s.zero_grad(set_to_none=True)
        loss_s.backward()
        opt_s.step()
        bar.set_postfix(
            G=f"{loss_gan.item():.2f}",
            cyc=f"{loss_cyc.item():.2f}",
            D=f"{loss_d.item():.2f}",
            S=f"{loss_s.item():.2f}",
        )
        done = it + 1
        if done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            state = {name: net.state_dict() for name, net in nets.items()}
            state.update(
                opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(), opt_s=opt_s.state_dict(), iteration=done
            )
            save_state(ckpt, state)
    weights = {k: v.detach().cpu() for k, v in G_A.state_dict().items()}
    save_state(final, weights)
    save_state(out_dir / "nets.pt", {name: net.state_dict() for name, net in nets.items()})
    if ckpt.exists():
        ckpt.unlink()
    return weights


@torch.no_grad()
def translate_volume(
    g_a: nn.Module, image: npt.NDArray[np.float32], device: torch.device, batch: int = 8
) -> npt.NDArray[np.float32]:
    """Pseudo-hrT2 of a normalised ceT1 crop ``(z, y, x)`` slice by slice (y, x padded to a multiple
    of 4), re-normalised to zero mean and unit variance like real hrT2 crops."""
    g_a.eval().to(device)
    z, y, x = image.shape
    py, px = (-y) % 4, (-x) % 4
    padded = np.pad(image, ((0, 0), (0, py), (0, px)), mode="reflect")
    out = np.empty_like(padded)
    for s in range(0, z, batch):
        inp = torch.from_numpy(np.ascontiguousarray(padded[s : s + batch, None], dtype=np.float32)).to(device)
        out[s : s + batch] = g_a(inp)[:, 0].float().cpu().numpy()
    res = out[:, :y, :x]
    return ((res - res.mean()) / max(float(res.std()), 1e-6)).astype(np.float32)
