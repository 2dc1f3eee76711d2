"""The training data layer: crops saved as ``.npy`` read with numpy, patches and augmentations
with numpy + torch + MONAI only (no SimpleITK), so the loop runs on a bare GPU machine.

Folder layout written by :mod:`crossmoda.algorithm.training.prepare` (arrays ``(z, y, x)``)::

    DATA/index.json                      {"splits": {"source": [case, ...], "target": [...]}, ...}
    DATA/<split>/<case>_image.npy        float16 normalised crop (ceT1 for source, hrT2/T2 for target)
    DATA/<split>/<case>_label.npy        uint8 segmenter classes (source: from _Label + _Aux;
                                         2022: 0-4, 2023: 0-5, see model.spec.class_roles)
    DATA/<split>/<case>_truth_label.npy  uint8, target only, paired truth (upper bound only)
    DATA/<split>/<case>_truth_hrT2.npy   float16, source only, paired truth (benchmark only)
    DATA/pseudo/<case>_image.npy         pseudo-hrT2 written by the translation stage
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from crossmoda.algorithm.model.spec import ClassRoles, class_roles

__all__ = [
    "Volume",
    "load_split",
    "sample_patch",
    "random_curve",
    "label_intensity",
    "augment_patch",
    "patch_batches",
]

ROLES_2022 = class_roles()


@dataclass
class Volume:
    """One training crop: ``image`` float32 ``(z, y, x)``, ``label`` uint8 ``(z, y, x)``;
    ``fg_classes``: the classes patches are centred on (tumour and cochlea classes)."""

    case: str
    image: npt.NDArray[np.float32]
    label: npt.NDArray[np.uint8]
    fg_classes: tuple[int, ...] = field(default=ROLES_2022.foreground)

    def __post_init__(self) -> None:
        if self.image.shape != self.label.shape:
            raise ValueError(f"{self.case}: image {self.image.shape} != label {self.label.shape}")
        self.fg_index = {c: np.argwhere(self.label == c) for c in self.fg_classes}


def load_split(
    data_dir: str | Path,
    split: str,
    cases: Sequence[str],
    *,
    image_split: str | None = None,
    label_suffix: str = "label",
    label_dir: str | Path | None = None,
    roles: ClassRoles = ROLES_2022,
) -> list[Volume]:
    """Load crops of ``cases``; images from ``image_split`` (default ``split``), labels
    ``<case>_<label_suffix>.npy`` from ``label_dir`` (default ``DATA/split``), whose classes
    ``roles`` describes."""
    root = Path(data_dir)
    img_dir = root / (image_split or split)
    lbl_dir = Path(label_dir) if label_dir is not None else root / split
    out = []
    for case in cases:
        image = np.load(img_dir / f"{case}_image.npy").astype(np.float32)
        label = np.load(lbl_dir / f"{case}_{label_suffix}.npy").astype(np.uint8)
        out.append(Volume(case, image, label, roles.foreground))
    return out


def sample_patch(
    vol: Volume, patch: tuple[int, int, int], rng: np.random.Generator, fg_fraction: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """A ``patch``-sized crop of ``vol``; with probability ``fg_fraction`` centred near a random
    voxel of a random foreground class (``vol.fg_classes``) present in the volume. Pads with the
    image minimum (label 0) when the volume is smaller than the patch."""
    shape = np.asarray(vol.image.shape)
    p = np.asarray(patch)
    present = [c for c in vol.fg_classes if len(vol.fg_index[c])]
    if present and rng.random() < fg_fraction:
        pts = vol.fg_index[present[int(rng.integers(len(present)))]]
        centre = pts[int(rng.integers(len(pts)))] + rng.integers(-p // 4, p // 4 + 1)
        start = centre - p // 2
    else:
        start = np.asarray(
            [int(rng.integers(min(0, s - q), max(0, s - q) + 1)) for s, q in zip(shape, p, strict=True)]
        )
    start = np.clip(start, np.minimum(0, shape - p), np.maximum(0, shape - p))
    img = np.full(patch, float(vol.image.min()), dtype=np.float32)
    lbl = np.zeros(patch, dtype=np.uint8)
    src = tuple(
        slice(max(int(a), 0), min(int(a + q), int(s))) for a, q, s in zip(start, p, shape, strict=True)
    )
    dst = tuple(slice(sl.start - int(a), sl.stop - int(a)) for sl, a in zip(src, start, strict=True))
    img[dst] = vol.image[src]
    lbl[dst] = vol.label[src]
    return img, lbl


def random_curve(
    img: npt.NDArray[np.float32], rng: np.random.Generator, knots: int = 6
) -> npt.NDArray[np.float32]:
    """Map intensities through a random piecewise-linear curve, then z-score again.

    The curve has ``knots`` equally spaced knots over the 1st-99th percentile range with heights
    drawn uniformly in [0, 1], so it can be non-monotone (tissues change order, as between ceT1
    and hrT2): the random intensity remapping of domain-generalisation work (Bezier-curve
    augmentation, Zhou et al. 2019; intensity remapping, Meyer et al. 2020). MONAI's
    ``RandIntensityRemap`` draws its curve over the *unique values*, which for a continuous
    image is noise, hence this version. ``img``: ``(z, y, x)`` float32.
    """
    lo, hi = np.percentile(img, [1.0, 99.0])
    if hi <= lo:
        return img
    xs = np.linspace(lo, hi, knots)
    ys = rng.uniform(0.0, 1.0, knots)
    out = np.interp(img, xs, ys).astype(np.float32)
    std = float(out.std())
    return ((out - out.mean()) / max(std, 1e-6)).astype(np.float32)


def label_intensity(
    img: npt.NDArray[np.float32],
    lbl: npt.NDArray[np.uint8],
    rng: np.random.Generator,
    label: int | tuple[int, ...] = 1,
    percentiles: tuple[float, float] = (2.0, 98.0),
    edge_sigma: float = 0.0,
) -> npt.NDArray[np.float32]:
    """Move the mean intensity of the ``label`` voxels (one class or the union of several) to a
    random level between the patch's ``percentiles`` and scale their contrast around the mean by
    U(0.5, 1.5); the rest of the patch is unchanged. ``img``, ``lbl``: ``(z, y, x)``.

    A label-aware augmentation for training on translated images, aimed at what the translation
    gets wrong. The tumour's hrT2 signal varies (iso- to hyperintense to grey matter, cystic parts
    bright) and the translation renders it with whatever intensity its cycle found convenient
    (on the phantom: darker than the brainstem, where real hrT2 shows it lighter); the cochlea
    comes out with half its real contrast (ceT1 hardly separates it from the otic capsule).
    Randomising them makes the segmenter rely on shape, place and boundaries.

    ``edge_sigma`` (voxels, 0: a hard step at the label boundary): blend the new intensities in
    with the label mask blurred by a Gaussian of that sigma, the partial-volume ramp a real
    boundary has. A hard step teaches that the structure ends exactly where the intensity jumps,
    and on real hrT2 the segmenter then leaves out the boundary voxels (those the truth counts,
    brighter from the CSF around: on the phantom, a quarter of the VS missed, mostly within
    1 mm of its surface).
    """
    mask = np.isin(lbl, label)
    if not mask.any():
        return img
    lo, hi = np.percentile(img, percentiles)
    vals = img[mask]
    mean = vals.mean()
    gain, level = float(rng.uniform(0.5, 1.5)), float(rng.uniform(lo, hi))
    out = img.copy()
    if edge_sigma <= 0:
        out[mask] = (vals - mean) * gain + level
        return out
    from scipy.ndimage import gaussian_filter

    weight = gaussian_filter(mask.astype(np.float32), edge_sigma, truncate=3.0)
    weight[mask] = np.maximum(weight[mask], 0.5)  # label voxels stay at least half the new level
    near = weight > 1e-3
    new = (img[near] - mean) * gain + level
    out[near] = img[near] + weight[near] * (new - img[near])
    return out


def augment_patch(
    img: npt.NDArray[np.float32], lbl: npt.NDArray[np.uint8], rng: np.random.Generator,
    invert_prob: float = 0.0, remap_prob: float = 0.0, tumour_prob: float = 0.0,
    cochlea_prob: float = 0.0, edge_sigma: tuple[float, float] = (0.0, 0.0),
    tumour_percentiles: tuple[float, float] = (2.0, 98.0), roles: ClassRoles = ROLES_2022,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Spatial (left-right flip, small in-plane rotation and scaling) and intensity (gamma,
    contrast, noise, blur) augmentation of one ``(z, y, x)`` patch, with MONAI transforms.

    ``invert_prob``: chance of negating the (z-scored) patch first, a contrast prior for the
    adaptation to hrT2, where fluid (CSF, cochlea) is bright and the tumour darker than it, the
    reverse of ceT1. ``remap_prob``: chance of a :func:`random_curve` instead (applied first).
    ``tumour_prob``, ``cochlea_prob``: chances of a :func:`label_intensity` of the VS (level
    between the patch's ``tumour_percentiles``) and of the cochlea (50th to 99.5th: brighter,
    as hrT2 shows it), after those and before the rest, with a boundary blend of sigma
    U(``edge_sigma``) voxels (:func:`label_intensity`). ``roles``: which classes are the
    tumour (all its parts shift together) and the cochlea.
    """
    from monai.transforms import Affine, GaussianSmooth

    if remap_prob > 0 and rng.random() < remap_prob:
        img = random_curve(img, rng)
    elif invert_prob > 0 and rng.random() < invert_prob:
        img = -img
    if tumour_prob > 0 and rng.random() < tumour_prob:
        sigma = float(rng.uniform(*edge_sigma)) if edge_sigma[1] > 0 else 0.0
        img = label_intensity(img, lbl, rng, roles.vs, tumour_percentiles, sigma)
    if cochlea_prob > 0 and rng.random() < cochlea_prob:
        sigma = float(rng.uniform(*edge_sigma)) if edge_sigma[1] > 0 else 0.0
        img = label_intensity(img, lbl, rng, roles.cochlea, (50.0, 99.5), sigma)

    if rng.random() < 0.5:  # both sides have canals: a mirrored head is a plausible head
        img, lbl = img[:, :, ::-1], lbl[:, :, ::-1]
    if rng.random() < 0.3:
        angle = float(rng.uniform(-0.26, 0.26))
        scale = float(rng.uniform(0.9, 1.1))
        aff = Affine(
            rotate_params=(angle, 0.0, 0.0),
            scale_params=(1.0, scale, scale),
            padding_mode="border",
            image_only=True,
        )
        img = np.asarray(aff(torch.from_numpy(img[None].copy()), mode="bilinear"))[0]
        lbl_t = torch.from_numpy(lbl[None].astype(np.float32))
        lbl = np.asarray(aff(lbl_t, mode="nearest"))[0].astype(np.uint8)
    img = np.ascontiguousarray(img, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    if rng.random() < 0.3 and hi > lo:
        gamma = float(np.exp(rng.uniform(-0.35, 0.35)))
        img = ((img - lo) / (hi - lo)) ** gamma * (hi - lo) + lo
    if rng.random() < 0.3:
        img = np.asarray(GaussianSmooth(sigma=float(rng.uniform(0.3, 1.0)))(img[None]))[0]
    if rng.random() < 0.5:
        img = img * float(rng.uniform(0.8, 1.2)) + float(rng.uniform(-0.2, 0.2))
    if rng.random() < 0.3:
        img = img + rng.normal(0.0, float(rng.uniform(0.0, 0.15)), img.shape).astype(np.float32)
    return np.ascontiguousarray(img, dtype=np.float32), np.ascontiguousarray(lbl)


def patch_batches(
    volumes: Sequence[Volume],
    patch: tuple[int, int, int],
    batch_size: int,
    rng: np.random.Generator,
    fg_fraction: float,
    augment: bool,
    invert_prob: float = 0.0,
    remap_prob: float = 0.0,
    tumour_prob: float = 0.0,
    cochlea_prob: float = 0.0,
    edge_sigma: tuple[float, float] = (0.0, 0.0),
    tumour_percentiles: tuple[float, float] = (2.0, 98.0),
    roles: ClassRoles = ROLES_2022,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless batches ``(image (B, 1, z, y, x) float32, label (B, 1, z, y, x) int64)``."""
    if not volumes:
        raise ValueError("no training volumes")
    while True:
        imgs, lbls = [], []
        for _ in range(batch_size):
            vol = volumes[int(rng.integers(len(volumes)))]
            img, lbl = sample_patch(vol, patch, rng, fg_fraction)
            if augment:
                img, lbl = augment_patch(
                    img, lbl, rng, invert_prob, remap_prob, tumour_prob, cochlea_prob, edge_sigma,
                    tumour_percentiles, roles,
                )
            imgs.append(img)
            lbls.append(lbl)
        yield (
            torch.from_numpy(np.stack(imgs)[:, None]),
            torch.from_numpy(np.stack(lbls)[:, None].astype(np.int64)),
        )
