"""Benchmark: crossmoda-evaluate's per-case scoring against medpy ``dc`` + ``assd``.

Builds a 448x448x120 case (spacing 0.5 x 0.5 x 1.0 mm) with a ~2 cm^3 VS and a ~90 mm^3 cochlea
(two blobs), a perturbed prediction, writes both as ``.nii.gz``, then times

* ours: :func:`crossmoda.evaluation.case.evaluate_case`, reading and validating both files
  included, for the challenge metrics (Dice, ASSD) and for all metrics;
* medpy 0.5.2: ``dc`` + ``assd`` per structure on the full arrays (file reading not included).

It asserts identical values (Dice exactly; ASSD to medpy 0.4's ``mean(asd(p, g), asd(g, p))``
and the pooled ASSD to medpy 0.5.2's ``assd`` within 1e-9 relative) and reports the speed-up.

Run: ``.venv/bin/python benchmarks/bench_evaluation.py [--repeats 5] [--out DIR]``
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from crossmoda.core.io import Geometry, write_label_map
from crossmoda.core.labels import LABELS_2022
from crossmoda.evaluation.case import CaseConfig, evaluate_case

logger = logging.getLogger("bench_evaluation")

SHAPE = (120, 448, 448)  # (z, y, x)
SPACING_XYZ = (0.5, 0.5, 1.0)


def _ellipsoid(shape: tuple[int, ...], centre_mm: npt.ArrayLike, radii_mm: npt.ArrayLike,
               spacing_zyx: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    c, r, s = (np.asarray(v, dtype=float) for v in (centre_mm, radii_mm, spacing_zyx))
    lo = np.maximum(((c - r) / s).astype(int) - 2, 0)
    hi = np.minimum(((c + r) / s).astype(int) + 3, shape)
    grids = np.meshgrid(*[np.arange(a, b) * sp for a, b, sp in zip(lo, hi, s, strict=True)], indexing="ij")
    inside = sum(((g - cc) / rr) ** 2 for g, cc, rr in zip(grids, c, r, strict=True)) <= 1.0
    out = np.zeros(shape, dtype=bool)
    out[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = inside
    return out


def build_case(seed: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Reference and perturbed prediction label maps ``(z, y, x)``."""
    rng = np.random.default_rng(seed)
    sp = np.asarray(SPACING_XYZ[::-1])
    ref = np.zeros(SHAPE, np.uint8)
    vs = _ellipsoid(SHAPE, (60.0, 110.0, 90.0), (7.0, 8.5, 8.0), sp)  # ~1.99 cm^3
    ref[vs] = 1
    for x in (80.0, 140.0):  # two cochleae, ~45 mm^3 each
        ref[_ellipsoid(SHAPE, (58.0, 112.0, x), (2.6, 2.0, 2.1), sp)] = 2
    pred = np.zeros_like(ref)
    for label in (1, 2):
        m = np.roll(ref == label, (1, 1, -1), axis=(0, 1, 2))
        edge = m ^ ndimage.binary_erosion(m)
        m[edge & (rng.random(SHAPE) < 0.3)] = False  # ragged boundary
        m |= ndimage.binary_dilation(m) & (rng.random(SHAPE) < 0.05)
        pred[m] = label
    return pred, ref


def medpy_scores(pred: npt.NDArray[np.uint8], ref: npt.NDArray[np.uint8], spacing: tuple[float, ...]
                 ) -> tuple[dict[str, float], float]:
    """medpy ``dc`` + ``assd`` per structure on the full arrays, and the seconds it took."""
    from medpy.metric import binary as mp

    start = time.perf_counter()
    out = {}
    for name, label in (("VS", 1), ("Cochlea", 2)):
        p, r = pred == label, ref == label
        out[f"{name}_Dice"] = float(mp.dc(p, r))
        out[f"{name}_ASSDPooled"] = float(mp.assd(p, r, spacing))
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 when values agree and the speed-up is at least 50x."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="folder for the two .nii.gz (default: temporary)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from medpy.metric import binary as mp

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        pred, ref = build_case(args.seed)
        geo = Geometry(size=(SHAPE[2], SHAPE[1], SHAPE[0]), spacing=SPACING_XYZ, origin=(0.0, 0.0, 0.0),
                       direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
        pred_path = write_label_map(pred, geo, folder / "crossmoda2022_etz_1_pred_Label.nii.gz")
        ref_path = write_label_map(ref, geo, folder / "crossmoda2022_etz_1_Label.nii.gz")
        spacing = geo.spacing_mm
        voxel = float(np.prod(spacing))
        logger.info("case %s, spacing (z,y,x) %s mm, VS %.0f mm^3, cochlea %.1f mm^3 (reference)",
                    SHAPE, spacing, np.count_nonzero(ref == 1) * voxel, np.count_nonzero(ref == 2) * voxel)

        timings: dict[str, float] = {}
        results = {}
        for label, metrics in (("Dice+ASSD", ("Dice", "ASSD")),
                               ("all metrics", ("Dice", "ASSD", "ASSDPooled", "ASSDSurfel", "HD95"))):
            config = CaseConfig(label_map=LABELS_2022, metrics=metrics)
            evaluate_case("warm-up", pred_path, ref_path, config)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                res = evaluate_case("crossmoda2022_etz_1", pred_path, ref_path, config)
                times.append(time.perf_counter() - t0)
                assert res.error is None, res.error
            timings[label] = statistics.median(times)
            results[label] = res.values

        medpy, medpy_s = medpy_scores(pred, ref, spacing)
        ours = results["all metrics"]
        worst_rel = 0.0
        for name, lab in (("VS", 1), ("Cochlea", 2)):
            p, r = pred == lab, ref == lab
            medpy04 = 0.5 * (mp.asd(p, r, spacing) + mp.asd(r, p, spacing))  # untimed oracle
            assert ours[f"{name}_Dice"] == medpy[f"{name}_Dice"], (name, "Dice")
            assert results["Dice+ASSD"][f"{name}_ASSD"] == ours[f"{name}_ASSD"]
            pooled = medpy[f"{name}_ASSDPooled"]
            for key, expected in ((f"{name}_ASSD", medpy04), (f"{name}_ASSDPooled", pooled)):
                rel = abs(ours[key] - expected) / expected
                worst_rel = max(worst_rel, rel)
                assert rel <= 1e-9, (key, ours[key], expected)
            logger.info("%-8s Dice %.6f  ASSD %.6f mm (medpy 0.4: %.6f)  pooled %.6f mm (medpy 0.5.2: %.6f)"
                        "  surfel %.6f mm  HD95 %.4f mm", name, ours[f"{name}_Dice"], ours[f"{name}_ASSD"],
                        medpy04, ours[f"{name}_ASSDPooled"], medpy[f"{name}_ASSDPooled"],
                        ours[f"{name}_ASSDSurfel"], ours[f"{name}_HD95"])
        logger.info("largest relative ASSD difference to medpy: %.3g", worst_rel)
        logger.info("medpy dc + assd (2 structures, full arrays, no file reading): %.2f s", medpy_s)
        ok = True
        for label, seconds in timings.items():
            speedup = medpy_s / seconds
            ok &= speedup >= 50
            logger.info("ours, %-11s incl. reading 2 x .nii.gz (median of %d): %.3f s -> speed-up %.0fx",
                        label, args.repeats, seconds, speedup)
        logger.info("PASS" if ok else "FAIL: speed-up below 50x")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
