"""A tiny analytic crossMoDA-layout data set for the training tests (not the phantom).

Shapes are defined in world mm (LPS) relative to a head centre: brainstem cylinder on the
midline, two cerebellar blobs behind it, a CSF cistern, two cochleas at x = +-28 mm inside dark
bone, a VS sphere on one side between cochlea and brainstem. ceT1 and hrT2 differ in contrast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

CONTRAST = {  # background, brain, csf, bone, cochlea, VS, brainstem, cerebellum
    "ceT1": (0.0, 0.5, 0.15, 0.05, 0.12, 1.0, 0.55, 0.45),
    "hrT2": (0.0, 0.3, 1.0, 0.05, 0.9, 0.45, 0.35, 0.25),
}


def world_grid(image: sitk.Image) -> np.ndarray:
    """World (x, y, z) of every voxel: ``(3, z, y, x)``."""
    size = image.GetSize()
    idx = np.stack(np.meshgrid(np.arange(size[2]), np.arange(size[1]), np.arange(size[0]), indexing="ij"))
    ijk = idx[::-1].reshape(3, -1).astype(np.float64)  # (x, y, z) index order
    d = np.asarray(image.GetDirection()).reshape(3, 3)
    world = np.asarray(image.GetOrigin())[:, None] + d @ (np.asarray(image.GetSpacing())[:, None] * ijk)
    return world.reshape(3, size[2], size[1], size[0])


def make_image(
    size_xyz: tuple[int, int, int],
    spacing_xyz: tuple[float, float, float],
    centre_xyz: tuple[float, float, float],
    direction: tuple[float, ...] | None = None,
) -> sitk.Image:
    """An empty float image whose grid is centred on ``centre_xyz``."""
    img = sitk.Image([int(s) for s in size_xyz], sitk.sitkFloat32)
    img.SetSpacing(spacing_xyz)
    if direction is not None:
        img.SetDirection(direction)
    d = np.asarray(img.GetDirection()).reshape(3, 3)
    half = d @ (np.asarray(spacing_xyz) * (np.asarray(size_xyz) - 1) / 2)
    img.SetOrigin(tuple(float(v) for v in np.asarray(centre_xyz) - half))
    return img


def tissues(grid: np.ndarray, head: np.ndarray, side: int, vs_radius: float) -> np.ndarray:
    """Tissue index map (0 background ... 7 cerebellum) of world points ``grid (3, ...)``."""
    x, y, z = (grid[i] - head[i] for i in range(3))
    t = np.zeros(x.shape, dtype=np.uint8)
    t[(x / 70) ** 2 + (y / 80) ** 2 + (z / 60) ** 2 < 1] = 1
    t[(x / 36) ** 2 + ((y - 8) / 14) ** 2 + (z / 14) ** 2 < 1] = 2  # cistern
    for sx in (-1, 1):
        t[((x - sx * 30) / 9) ** 2 + ((y + 2) / 9) ** 2 + (z / 7) ** 2 < 1] = 3  # petrous bone
        t[(x - sx * 28) ** 2 + (y + 4) ** 2 + (z / 0.8) ** 2 < 3.2**2] = 4  # cochlea
        t[((x - sx * 22) / 12) ** 2 + ((y - 26) / 10) ** 2 + (z / 12) ** 2 < 1] = 7  # cerebellum
    t[(x**2 + (y - 10) ** 2 < 9**2) & (np.abs(z) < 30)] = 6  # brainstem
    t[(x - side * 19) ** 2 + (y - 4) ** 2 + z**2 < vs_radius**2] = 5  # VS
    return t


def render(
    image: sitk.Image, head: np.ndarray, side: int, vs_radius: float, modality: str, rng: np.random.Generator
) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """Image, ``_Label`` (1 VS, 2 cochlea) and ``_Aux`` (1 brainstem, 2 cerebellum) on ``image``'s grid."""
    t = tissues(world_grid(image), head, side, vs_radius)
    values = np.asarray(CONTRAST[modality], dtype=np.float32)
    arr = values[t] + rng.normal(0, 0.03, t.shape).astype(np.float32)
    label = np.where(t == 5, 1, np.where(t == 4, 2, 0)).astype(np.uint8)
    aux = np.where(t == 6, 1, np.where(t == 7, 2, 0)).astype(np.uint8)
    out = []
    for a in (arr * 100, label, aux):
        im = sitk.GetImageFromArray(a)
        im.CopyInformation(image)
        out.append(im)
    return out[0], out[1], out[2]


def write_dataset(
    root: Path,
    n_source: int = 3,
    n_target: int = 3,
    n_validation: int = 2,
    seed: int = 0,
    size_xyz: tuple[int, int, int] = (84, 52, 16),
    spacing_xyz: tuple[float, float, float] = (1.0, 1.0, 2.0),
) -> Path:
    """Write a crossMoDA-layout data set (small crops around the canals) under ``root``."""
    rng = np.random.default_rng(seed)
    n = 0
    for split, count in (
        ("source_training", n_source),
        ("target_training", n_target),
        ("validation", n_validation),
    ):
        (root / split).mkdir(parents=True, exist_ok=True)
        for _ in range(count):
            n += 1
            case = f"crossmoda2022_{'ldn' if n % 2 else 'etz'}_{n}"
            head = rng.uniform(-5, 5, 3)
            side = int(rng.choice([-1, 1]))
            grid = make_image(size_xyz, spacing_xyz, tuple(head + rng.uniform(-3, 3, 3)))
            modality = "ceT1" if split == "source_training" else "hrT2"
            img, lab, aux = render(grid, head, side, float(rng.uniform(4, 7)), modality, rng)
            sitk.WriteImage(img, str(root / split / f"{case}_{modality}.nii.gz"))
            if split == "source_training":
                sitk.WriteImage(lab, str(root / split / f"{case}_Label.nii.gz"))
                sitk.WriteImage(aux, str(root / split / f"{case}_Aux.nii.gz"))
            else:
                dest = root / ("validation_labels" if split == "validation" else "paired_truth")
                (root / "paired_truth").mkdir(exist_ok=True)
                dest.mkdir(exist_ok=True)
                sitk.WriteImage(lab, str(dest / f"{case}_Label.nii.gz"))
                sitk.WriteImage(aux, str(root / "paired_truth" / f"{case}_Aux.nii.gz"))
    return root
