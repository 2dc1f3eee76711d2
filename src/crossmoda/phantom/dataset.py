"""Generate a whole crossMoDA-shaped data set (layout in ``docs/contracts.md``), in parallel."""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from crossmoda.core.cases import SITES, CaseName
from crossmoda.core.io import write_image, write_label_map
from crossmoda.core.koos import format_grade, write_koos_csv
from crossmoda.core.labels import AUX_LABELS, LABELS_2022, LABELS_2023, LabelMap
from crossmoda.core.provenance import provenance, write_json_atomic, write_text_atomic
from crossmoda.phantom.case import CaseResult, CaseSpec, file_modality, generate_case, grid_modality
from crossmoda.phantom.config import SITE_SPECS, PhantomConfig
from crossmoda.phantom.templates import load_templates

__all__ = ["SPLITS", "DatasetSummary", "plan_cases", "write_case", "generate_dataset", "case_seed"]

logger = logging.getLogger(__name__)

SPLITS = ("source_training", "target_training", "validation", "test")


@dataclass
class DatasetSummary:
    """What :func:`generate_dataset` wrote.

    Attributes:
        out: Data set root.
        cases: One row per case: name, split, site, koos (``None`` post-operative), seconds.
        seconds: Wall time of the whole run.
        config: The resolved configuration.
    """

    out: Path
    cases: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    config: PhantomConfig | None = None

    def by_split(self, split: str) -> list[dict[str, Any]]:
        """Rows of one split."""
        return [c for c in self.cases if c["split"] == split]


def case_seed(seed: int, index: int) -> int:
    """Per-case seed from the master seed and the case index (independent of worker order)."""
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 32 | int(state[1])


def _grades(n: int, postop_fraction: float, rng: np.random.Generator) -> list[int | None]:
    n_post = int(round(postop_fraction * n))
    if n >= 4:
        n_post = min(n_post, n - 4)
    n_pre = n - n_post
    grades: list[int | None] = [1 + (k % 4) for k in range(n_pre)]
    grades += [None] * n_post
    order = rng.permutation(n)
    return [grades[int(i)] for i in order]


def _site_postop(specs: list[CaseSpec], rng: np.random.Generator) -> list[CaseSpec]:
    """Make the fraction :attr:`SiteSpec.postop` of each routine site's cases post-operative,
    choosing only cases whose grade occurs more than once in the split (all grades stay)."""
    out = list(specs)
    for site in sorted({s.site for s in specs}):
        frac = SITE_SPECS[site].postop
        mine = [i for i, s in enumerate(specs) if s.site == site and s.koos is not None]
        k = int(round(frac * len(mine)))
        for i in [int(j) for j in rng.permutation(mine)]:
            if k == 0:
                break
            grades = [s.koos for s in out]
            if grades.count(out[i].koos) > 1:
                out[i] = replace(out[i], koos=None)
                k -= 1
    return out


def plan_cases(config: PhantomConfig) -> list[CaseSpec]:
    """All cases in order (source, target, validation, test): numbers 1.. unique over splits,
    sites alternating, Koos grades balanced per split (all four in any split of >= 4 cases); a
    routine site's share of post-operative cases (``ukm``) comes on top of ``postop_fraction``."""
    specs: list[CaseSpec] = []
    index = 0
    for s_idx, split in enumerate(SPLITS):
        n = int(getattr(config, split.split("_")[0]))
        rng = np.random.default_rng([config.seed, 1000 + s_idx])
        split_specs = []
        for grade in _grades(n, config.postop_fraction, rng):
            site = config.sites[index % len(config.sites)]
            name = str(CaseName(index + 1, config.edition, site))
            split_specs.append(
                CaseSpec(
                    name=name,
                    index=index,
                    split=split,
                    site=site,
                    koos=grade,
                    seed=case_seed(config.seed, index),
                    preset=config.preset,
                    edition=config.edition,
                )
            )
            index += 1
        if any(SITE_SPECS[s].postop > 0 for s in config.sites):
            split_specs = _site_postop(split_specs, np.random.default_rng([config.seed, 2000 + s_idx]))
        specs += split_specs
    return specs


def write_case(result: CaseResult, out: Path) -> None:
    """Write one case's files into the data set folder ``out`` (2023: ``_T2`` images, 3 labels)."""
    spec, geo = result.spec, result.geometry
    case = spec.name
    truth = out / "paired_truth"
    t2 = file_modality("hrT2", spec.edition)
    labels: LabelMap = LABELS_2023 if spec.edition >= 2023 else LABELS_2022
    if spec.split == "source_training":
        folder = out / "source_training"
        write_image(result.images["ceT1"], folder / f"{case}_ceT1.nii.gz", geo)
        write_label_map(result.label, geo, folder / f"{case}_Label.nii.gz", labels)
        write_label_map(result.aux, geo, folder / f"{case}_Aux.nii.gz", AUX_LABELS)
        write_image(result.images["hrT2"], truth / f"{case}_{t2}.nii.gz", geo)
    else:
        folder = out / spec.split
        write_image(result.images["hrT2"], folder / f"{case}_{t2}.nii.gz", geo)
        if spec.split in ("validation", "test"):
            write_label_map(
                result.label, geo, out / f"{spec.split}_labels" / f"{case}_Label.nii.gz", labels
            )
        write_image(result.images["ceT1"], truth / f"{case}_ceT1.nii.gz", geo)
        write_label_map(result.label, geo, truth / f"{case}_Label.nii.gz", labels)
        write_label_map(result.aux, geo, truth / f"{case}_Aux.nii.gz", AUX_LABELS)
    write_json_atomic(out / "meta" / f"{case}.json", result.meta)


def _run_one(spec: CaseSpec, out: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = generate_case(spec, load_templates())
    write_case(result, Path(out))
    return {
        "name": spec.name,
        "split": spec.split,
        "site": spec.site,
        "koos": spec.koos,
        "grid": grid_modality(spec.split),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def generate_dataset(
    out: str | Path, config: PhantomConfig | None = None, *, progress: bool = True
) -> DatasetSummary:
    """Generate a data set into ``out`` (created; existing case files are overwritten).

    Every file, ``phantom_config.json`` included, is byte-identical for the same ``config`` and
    code: the provenance there records no creation time.
    """
    cfg = config if config is not None else PhantomConfig()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    specs = plan_cases(cfg)
    t0 = time.perf_counter()
    load_templates()  # once in the parent: forked workers inherit it
    workers = cfg.workers if cfg.workers is not None else min(4, os.cpu_count() or 1)
    workers = max(1, min(workers, len(specs) or 1))
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(specs), desc="phantom cases", unit="case", disable=not progress)
    if workers == 1:
        for spec in specs:
            rows.append(_run_one(spec, str(root)))
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_one, spec, str(root)) for spec in specs]
            for fut in futures:
                rows.append(fut.result())
                bar.update(1)
    bar.close()
    _write_tables(root, specs)
    summary = DatasetSummary(out=root, cases=rows, seconds=round(time.perf_counter() - t0, 3), config=cfg)
    write_json_atomic(
        root / "phantom_config.json",
        {
            "config": asdict(cfg),
            "provenance": provenance("crossmoda-phantom", cfg, created=False),
            "templates": "deepmriprep 0.3.0 (MIT): Template_05mm_bet, neuromorphometrics",
            "cases": [{k: v for k, v in r.items() if k != "seconds"} for r in rows],
        },
    )
    logger.info("wrote %d cases to %s in %.1f s", len(rows), root, summary.seconds)
    return summary


def _write_tables(root: Path, specs: list[CaseSpec]) -> None:
    for split in ("validation", "test"):
        grades = {s.name: s.koos for s in specs if s.split == split}
        if grades:
            write_koos_csv(root / f"{split}_labels" / "koos.csv", grades)
    lines = []
    for s in specs:
        if s.split != "source_training":
            continue
        koos = "post-operative-london" if s.koos is None else format_grade(s.koos)
        group = "post-operative" if s.koos is None else "pre-operative"
        lines.append([s.name, SITES[s.site], group, koos])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["crossmoda_name", "center", "group", "koos"])
    writer.writerows(lines)
    write_text_atomic(root / "infos_source_training.csv", buf.getvalue())
