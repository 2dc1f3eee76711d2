"""Unpaired ceT1 -> hrT2 translation: a small 2D CycleGAN on axial patches of the crops.

Names in the code and in the paper (Zhu et al. 2017, as in pytorch-CycleGAN):
``G_A`` (G: ceT1 -> hrT2), ``G_B`` (F: hrT2 -> ceT1), ``D_A`` (D_Y: judges hrT2),
``D_B`` (D_X: judges ceT1). Losses: least-squares GAN, cycle consistency, identity, and a
small-structure term: a 2D segmenter ``S`` (VS, cochlea) trained on ``G_A(ceT1)`` with the source
labels, whose loss also flows into ``G_A`` so the cochleas and the tumour stay visible in the
pseudo-hrT2 (the segmentation-consistency idea of PAST 2.0 and MAI in crossMoDA 2022), a
population-atlas term, and an optional MIND structure term
(:mod:`crossmoda.algorithm.training.translation.mind`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from crossmoda.algorithm.model.network import load_state, save_state
from crossmoda.algorithm.training.config import TranslateConfig
from crossmoda.algorithm.training.data import Volume
from crossmoda.algorithm.training.distributed import barrier, is_main, world, wrap_ddp
from crossmoda.algorithm.training.schedules import linear_decay_second_half, set_learning_rates
from crossmoda.algorithm.training.translation.mind import mind_loss
from crossmoda.algorithm.training.translation.nets import build_translation_nets

__all__ = [
    "train_translation",
    "population_atlas",
    "Patches",
    "translate_volume",
]

logger = logging.getLogger(__name__)


class Patches(NamedTuple):
    """A batch of axial patches: ``image`` ``(n, 1, P, P)``, ``label`` ``(n, 1, P, P)`` (0 bg, 1 VS,
    2 cochlea), ``position`` ``(n, 3, P, P)`` (crop z, y, x per pixel in [-1, 1]; a left-right
    flipped patch gets mirrored x, as if it came from the other side) and ``atlas``: the same
    pixels of an atlas crop (flipped alike) or ``None``."""

    image: torch.Tensor
    label: torch.Tensor
    position: torch.Tensor
    atlas: torch.Tensor | None


def _slice_patches(
    vols: Sequence[Volume], n: int, patch: int, rng: np.random.Generator, label_frac: float,
    prior: Sequence[Volume] | None = None, atlas: npt.NDArray[np.float32] | None = None,
) -> Patches:
    """``n`` axial ``patch x patch`` patches of random ``vols`` (see :class:`Patches`).

    A fraction ``label_frac`` of the patches is centred (with jitter) on a VS or cochlea voxel:
    of the volume itself, or, with ``prior`` (labelled volumes on the same crop grid), on a voxel
    of a random ``prior`` volume, a location prior for unlabelled volumes. The crops are centred
    on both canals, so the prior lands near the canals, where a target tumour and the cochleas
    lie; the discriminator then sees real hrT2 canal regions as often as translated ones.
    ``atlas``: an array of the crop shape cut at the same pixels.
    """
    imgs, lbls, locs, atl = [], [], [], []
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
        h, w = img.shape
        yy = 2.0 * (y0 + np.arange(h)) / max(y_n - 1, 1) - 1.0
        xx = 2.0 * (x0 + np.arange(w)) / max(x_n - 1, 1) - 1.0
        loc = np.stack(
            [
                np.full((h, w), 2.0 * z / max(z_n - 1, 1) - 1.0),
                np.broadcast_to(yy[:, None], (h, w)),
                np.broadcast_to(xx[None, :], (h, w)),
            ]
        )
        at = atlas[z, y0 : y0 + patch, x0 : x0 + patch] if atlas is not None else None
        if rng.random() < 0.5:
            img, lbl = img[:, ::-1], lbl[:, ::-1]
            loc = loc[:, :, ::-1] * np.array([1.0, 1.0, -1.0])[:, None, None]
            at = at[:, ::-1] if at is not None else None
        if at is not None:
            atl.append(np.ascontiguousarray(at, dtype=np.float32))
        imgs.append(np.ascontiguousarray(img))
        lbls.append(np.ascontiguousarray(lbl))
        locs.append(np.ascontiguousarray(loc, dtype=np.float32))
    return Patches(
        torch.from_numpy(np.stack(imgs)[:, None].astype(np.float32)),
        torch.from_numpy(np.stack(lbls)[:, None].astype(np.int64)),
        torch.from_numpy(np.stack(locs)),
        torch.from_numpy(np.stack(atl)[:, None]) if atlas is not None else None,
    )


def population_atlas(vols: Sequence[Volume]) -> npt.NDArray[np.float32]:
    """Voxel-wise mean of same-shaped crops ``(z, y, x)``: the crops are all centred on both
    canals, so the mean is a blurred picture of what each tissue location looks like in that
    modality (an unpaired statistic: no case is matched to another)."""
    if not vols:
        raise ValueError("no volumes for the atlas")
    shapes = {v.image.shape for v in vols}
    if len(shapes) != 1:
        raise ValueError(f"crops differ in shape: {sorted(shapes)}")
    return np.mean(np.stack([v.image for v in vols]), axis=0).astype(np.float32)


def _low_pass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``(B, 1, H, W)`` with ``sigma`` pixels (``0``: unchanged): what the
    discriminators see, so they judge the layout of intensities rather than the noise texture,
    which differs between the two scanners' acquisitions and is an easy, useless cue."""
    if sigma <= 0:
        return x
    r = max(1, int(round(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = nn.functional.pad(x, (r, r, r, r), mode="reflect")
    x = nn.functional.conv2d(x, k.view(1, 1, 1, -1))
    return nn.functional.conv2d(x, k.view(1, 1, -1, 1))


def _ls(pred: torch.Tensor, value: float) -> torch.Tensor:
    """Least-squares GAN loss against a constant target."""
    return torch.mean((pred - value) ** 2)


def _optimisers(nets: dict[str, nn.Module], cfg: TranslateConfig) -> dict[str, torch.optim.Optimizer]:
    """Adam for the generators (``opt_g``), the discriminators (``opt_d``) and ``S`` (``opt_s``)."""
    betas = (0.5, 0.999)
    # Adam moves every parameter by about ``lr`` per step: a curve knot (an intensity, in z-score
    # units) has to travel across the whole intensity range, hence its own, larger rate
    curves = [p for g in ("G_A", "G_B") for n, p in nets[g].named_parameters() if n == "heights"]
    rest = [p for g in ("G_A", "G_B") for n, p in nets[g].named_parameters() if n != "heights"]
    groups = [{"params": rest, "base_lr": cfg.lr}]
    if curves:
        groups.append({"params": curves, "base_lr": cfg.curve_lr})
    return {
        "opt_g": torch.optim.Adam([{**g, "lr": g["base_lr"]} for g in groups], lr=cfg.lr, betas=betas),
        "opt_d": torch.optim.Adam([*nets["D_A"].parameters(), *nets["D_B"].parameters()], lr=cfg.lr,
                                  betas=betas),
        "opt_s": torch.optim.Adam(nets["S"].parameters(), lr=1e-3),
    }


class _CycleGANStep:
    """One iteration of the CycleGAN with its segmentation, atlas and MIND terms."""

    def __init__(self, nets: dict[str, nn.Module], opts: dict[str, torch.optim.Optimizer],
                 cfg: TranslateConfig, device: torch.device) -> None:
        from monai.losses import DiceCELoss

        self.nets, self.opts, self.cfg, self.device = nets, opts, cfg, device
        self.l1 = nn.L1Loss()
        self.seg_loss = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)

    def judge(self, name: str, x: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """Discriminator ``name`` on ``x`` (blurred; with the pixel positions when ``d_coords``)."""
        x = _low_pass(x, self.cfg.d_blur_sigma)
        if self.cfg.d_coords:
            x = torch.cat([x, loc], dim=1)
        return self.nets[name](x)  # type: ignore[no-any-return]

    def _optimise(self, name: str, loss: torch.Tensor) -> None:
        self.opts[name].zero_grad(set_to_none=True)
        loss.backward()
        self.opts[name].step()

    def __call__(self, pa: Patches, pb: Patches, frac: float) -> dict[str, float]:
        """Update generators, discriminators and ``S`` on source ``pa`` and target ``pb`` patches;
        ``frac``: the schedule's factor, which also weighs the atlas term. Returns the losses."""
        cfg, device, l1 = self.cfg, self.device, self.l1
        G_A, G_B, S = (self.nets[k] for k in ("G_A", "G_B", "S"))  # noqa: N806
        real_a, lbl_a, loc_a = pa.image.to(device), pa.label.to(device), pa.position.to(device)
        real_b, loc_b = pb.image.to(device), pb.position.to(device)
        # generators (+ structure term through S); a fake keeps the position of its input
        fake_b, fake_a = G_A(real_a), G_B(real_b)
        loss_gan = _ls(self.judge("D_A", fake_b, loc_a), 1.0) + _ls(self.judge("D_B", fake_a, loc_b), 1.0)
        loss_cyc = l1(G_B(fake_b), real_a) + l1(G_A(fake_a), real_b)
        loss_idt = l1(G_A(real_b), real_b) + l1(G_B(real_a), real_a)
        loss_seg = self.seg_loss(S(fake_b), lbl_a)
        loss_atlas = torch.zeros((), device=device)
        if pa.atlas is not None and pb.atlas is not None:
            # population term: a translated patch, blurred, should resemble the other modality's
            # mean crop at the same place; it picks the right tissue-to-intensity assignment early
            blur = cfg.atlas_sigma
            loss_atlas = l1(_low_pass(fake_b, blur), pa.atlas.to(device)) + l1(
                _low_pass(fake_a, blur), pb.atlas.to(device)
            )
        loss_mind = torch.zeros((), device=device)
        if cfg.lambda_mind > 0:
            # structure term: translated edges where the input has them (either polarity)
            loss_mind = mind_loss(fake_b, real_a, cfg.mind_sigma) + mind_loss(fake_a, real_b, cfg.mind_sigma)
        loss_g = (
            loss_gan
            + cfg.lambda_mind * loss_mind
            + cfg.lambda_cycle * loss_cyc
            + cfg.lambda_cycle * cfg.lambda_identity * loss_idt
            + cfg.lambda_seg * loss_seg
            + cfg.lambda_atlas * frac * loss_atlas
        )
        self._optimise("opt_g", loss_g)
        # discriminators and S on detached fakes
        fb, fa = fake_b.detach(), fake_a.detach()
        loss_d = 0.5 * (
            _ls(self.judge("D_A", real_b, loc_b), 1.0)
            + _ls(self.judge("D_A", fb, loc_a), 0.0)
            + _ls(self.judge("D_B", real_a, loc_a), 1.0)
            + _ls(self.judge("D_B", fa, loc_b), 0.0)
        )
        self._optimise("opt_d", loss_d)
        loss_s = self.seg_loss(S(fb), lbl_a)
        self._optimise("opt_s", loss_s)
        return {"G": loss_gan.item(), "cyc": loss_cyc.item(), "D": loss_d.item(),
                "atlas": loss_atlas.item(), "mind": loss_mind.item(), "S": loss_s.item()}


def _atlases(source: Sequence[Volume], target: Sequence[Volume],
             cfg: TranslateConfig) -> tuple[npt.NDArray[np.float32] | None, npt.NDArray[np.float32] | None]:
    """Population atlases (hrT2 for G_A's outputs, ceT1 for G_B's), blurred like the fakes."""
    if cfg.lambda_atlas <= 0:
        return None, None

    def blurred(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return _low_pass(torch.from_numpy(a)[:, None], cfg.atlas_sigma)[:, 0].numpy()  # type: ignore[no-any-return]

    return blurred(population_atlas(source)), blurred(population_atlas(target))


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
    ``out_dir/checkpoint.pt`` (all nets, optimisers, iteration) and ``out_dir/G_A.pt``. Under
    ``torchrun`` every net is wrapped in DDP, each rank draws its own patches
    (``default_rng([seed, rank, start_iteration])``) and rank 0 alone writes.
    """
    final, ckpt = out_dir / "G_A.pt", out_dir / "checkpoint.pt"
    if final.exists():
        return load_state(final)
    torch.manual_seed(seed)
    nets = build_translation_nets(cfg)
    for net in nets.values():
        net.to(device).train()
    opts = _optimisers(nets, cfg)
    start = 0
    if ckpt.exists():
        state = load_state(ckpt)
        for name, net in nets.items():
            net.load_state_dict(state[name])
        for name, opt in opts.items():
            opt.load_state_dict(state[name])
        start = int(state["iteration"])
        logger.info("translate: resuming at iteration %d/%d", start, cfg.iterations)
    rank, size = world()
    rng = np.random.default_rng([seed, start] if size == 1 else [seed, rank, start])
    atlas_a, atlas_b = _atlases(source, target, cfg)
    # the step sees the DDP wrappers (gradients averaged over ranks); states come from ``nets``
    step = _CycleGANStep({name: wrap_ddp(net, device) for name, net in nets.items()}, opts, cfg, device)
    bar = tqdm(range(start, cfg.iterations), desc="translate", initial=start, total=cfg.iterations,
               dynamic_ncols=True, disable=not is_main())
    for it in bar:
        frac = linear_decay_second_half(it, cfg.iterations)
        for name in ("opt_g", "opt_d"):
            set_learning_rates(opts[name], cfg.lr, frac)
        pa = _slice_patches(source, cfg.batch_size, cfg.patch, rng, cfg.label_patch_fraction, atlas=atlas_b)
        pb = _slice_patches(target, cfg.batch_size, cfg.patch, rng, cfg.target_prior_fraction,
                            prior=source, atlas=atlas_a)
        losses = step(pa, pb, frac)
        bar.set_postfix({k: f"{v:.3f}" if k == "mind" else f"{v:.2f}" for k, v in losses.items()})
        done = it + 1
        if is_main() and done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            state = {name: net.state_dict() for name, net in nets.items()}
            state.update({name: opt.state_dict() for name, opt in opts.items()}, iteration=done)
            save_state(ckpt, state)
    weights = {k: v.detach().cpu() for k, v in nets["G_A"].state_dict().items()}
    if is_main():
        save_state(final, weights)
        save_state(out_dir / "nets.pt", {name: net.state_dict() for name, net in nets.items()})
        if ckpt.exists():
            ckpt.unlink()
    barrier()
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
