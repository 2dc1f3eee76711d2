"""The training chain behind ``crossmoda-train``: prepare -> translate -> segment -> self-train
(-> Koos), each a stage of :mod:`~crossmoda.algorithm.training.stages` (finished stages are
skipped, interrupted ones resume from their checkpoint). Every stage that yields a segmenter
exports a complete model folder and validates it on the data set's ``validation`` split through
the inference API and the evaluation package's metrics.

Run folder::

    RUN/config.json  RUN/data/ (npy crops, template, index.json)  RUN/translate/  RUN/segment/
    RUN/self_train/round_<k>/  RUN/koos/  RUN/model/ (the final model folder)  RUN/summary.json
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossmoda.algorithm.model.network import build_segmenter, load_state, resolve_device
from crossmoda.algorithm.model.spec import ClassRoles, ModelSpec, class_roles
from crossmoda.algorithm.training.config import TrainConfig
from crossmoda.algorithm.training.data import Volume, load_split
from crossmoda.algorithm.training.distributed import gather_lists, world
from crossmoda.algorithm.training.export import export_model
from crossmoda.algorithm.training.koos_stage import run_koos
from crossmoda.algorithm.training.run_index import INDEX_FILE, RunIndex
from crossmoda.algorithm.training.segment import train_segmenter
from crossmoda.algorithm.training.selftrain import PseudoLabel
from crossmoda.algorithm.training.stages import from_main, on_main, run_stage, stage_done
from crossmoda.algorithm.training.validation import translation_quality, validate_model
from crossmoda.core.provenance import provenance, write_json_atomic

__all__ = [
    "resolve_label_map", "run_prepare", "run_translate", "run_segment", "run_self_train", "run_koos",
    "run_all",
]

logger = logging.getLogger(__name__)


def resolve_label_map(data_dir: Path, run_dir: Path, cfg: TrainConfig) -> None:
    """Resolve ``cfg.label_map`` in place: the prepared folder's (``RUN/data/index.json``) or,
    before ``prepare``, the data's (from its case names).

    Raises:
        ValueError: the configured label map is not the data's, or the data mixes editions.
    """
    from crossmoda.algorithm.training.prepare import data_label_map

    data = run_dir / "data"
    cfg.for_label_map(RunIndex.read(data).label_map if (data / INDEX_FILE).is_file()
                      else data_label_map(data_dir))


def run_prepare(data_dir: Path, run_dir: Path, cfg: TrainConfig) -> RunIndex:
    """Stage 0: ``.npy`` crops and the hrT2 template into ``RUN/data`` (skipped when present;
    rank 0 prepares, the others wait)."""
    from crossmoda.algorithm.training.prepare import prepare_data

    out = run_dir / "data"
    if from_main((out / INDEX_FILE).is_file):
        logger.info("prepare: %s exists, skipping", out / INDEX_FILE)
        return RunIndex.read(out)
    t0 = time.perf_counter()
    on_main(lambda: prepare_data(data_dir, out, cfg.preprocess, max_cases=cfg.max_cases))
    logger.info("prepare: %.1f s", time.perf_counter() - t0)
    index = RunIndex.read(out)
    cfg.for_label_map(index.label_map)
    return index


def _export_and_validate(
    stage_dir: Path, weights: dict[str, torch.Tensor], run_dir: Path, data_dir: Path, cfg: TrainConfig,
    stage: str,
) -> dict[str, Any]:
    """Rank 0: ``stage_dir/model`` and its validation scores (``validation.json``); mean scores."""
    def step() -> dict[str, Any]:
        export_model(stage_dir / "model", weights, run_dir, cfg, stage)
        if not cfg.validate or not (data_dir / "validation").is_dir():
            return {}
        result = validate_model(stage_dir / "model", data_dir, device=cfg.device)
        write_json_atomic(stage_dir / "validation.json", result)
        return dict(result["mean"])

    return on_main(step) or {}


def _translate(stage: Path, run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    from crossmoda.algorithm.training.translation.loop import train_translation

    data = run_dir / "data"
    index = RunIndex.read(data)
    t0 = time.perf_counter()
    source = load_split(data, "source", index.source, roles=class_roles(cfg.label_map or index.label_map))
    target = []
    for case in index.target:
        image = np.load(data / "target" / f"{case}_image.npy").astype(np.float32)
        target.append(Volume(case, image, np.zeros(image.shape, np.uint8)))
    structures = [_structure_volume(v, class_roles(index.label_map)) for v in source]
    weights = train_translation(structures, target, cfg.translate, stage, device=device, seed=cfg.seed)
    seconds = time.perf_counter() - t0
    applied = on_main(lambda: _apply_translation(weights, source, data, cfg, device)) or {}
    return {"seconds_train": seconds, **applied}


def _structure_volume(vol: Volume, roles: ClassRoles) -> Volume:
    """``vol`` with the translation's structure classes: 1 tumour (all its parts), 2 cochlea,
    0 elsewhere (auxiliary structures included)."""
    label = np.zeros_like(vol.label)
    label[np.isin(vol.label, roles.vs)] = 1
    label[vol.label == roles.cochlea] = 2
    return Volume(vol.case, vol.image, label)


def _apply_translation(weights: dict[str, torch.Tensor], source: list[Volume], data: Path, cfg: TrainConfig,
                       device: torch.device) -> dict[str, Any]:
    """Rank 0: a pseudo-hrT2 crop for every source case (``RUN/data/pseudo``) and its quality
    against the paired truth where there is one."""
    from crossmoda.algorithm.training.translation.loop import translate_volume
    from crossmoda.algorithm.training.translation.nets import build_generator

    t1 = time.perf_counter()
    g_a = build_generator(cfg.translate)
    g_a.load_state_dict(weights)
    (data / "pseudo").mkdir(exist_ok=True)
    quality: dict[str, dict[str, float]] = {}
    for vol in source:
        fake = translate_volume(g_a, vol.image, device)
        np.save(data / "pseudo" / f"{vol.case}_image.npy", fake.astype(np.float16))
        truth = data / "source" / f"{vol.case}_truth_hrT2.npy"
        if truth.is_file():
            t = np.load(truth).astype(np.float32)
            quality[vol.case] = {
                **translation_quality(fake, t),
                **{f"identity_{k}": v for k, v in translation_quality(vol.image, t).items()},
            }
    mean = {k: float(np.mean([q[k] for q in quality.values()])) for k in next(iter(quality.values()), {})}
    return {"seconds_apply": time.perf_counter() - t1, "quality_mean": mean, "quality": quality}


def run_translate(run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Stage 1: CycleGAN (data-parallel under torchrun), then a pseudo-hrT2 crop for every source
    case (``RUN/data/pseudo``, rank 0)."""
    return run_stage(run_dir, "translate", lambda stage: _translate(stage, run_dir, cfg, device))


def _stage_volumes(run_dir: Path, cfg: TrainConfig) -> list[Volume]:
    data = run_dir / "data"
    index = RunIndex.read(data)
    roles = class_roles(index.label_map)
    if cfg.mode == "adapted":
        return load_split(data, "source", index.source, image_split="pseudo", roles=roles)
    if cfg.mode == "no_adaptation":
        return load_split(data, "source", index.source, roles=roles)
    if not index.truth_label:
        raise FileNotFoundError("supervised mode needs paired_truth/<case>_Label for target cases")
    return load_split(data, "target", index.truth_label, label_suffix="truth_label", roles=roles)


def run_segment(data_dir: Path, run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Stage 2: DynUNet on pseudo-hrT2 (``adapted``), ceT1 (``no_adaptation``) or target hrT2 with
    paired-truth labels (``supervised``); exports ``RUN/segment/model`` and validates it."""
    def body(stage: Path) -> dict[str, Any]:
        t0 = time.perf_counter()
        weights = train_segmenter(_stage_volumes(run_dir, cfg), cfg.segment, stage, device=device,
                                  seed=cfg.seed, desc=f"segment ({cfg.mode})",
                                  label_map=cfg.model_spec().label_map)
        seconds = time.perf_counter() - t0
        val = _export_and_validate(stage, weights, run_dir, data_dir, cfg, "segment")
        return {"seconds": seconds, "validation_mean": val}

    return run_stage(run_dir, "segment", body)


def _pseudo_labels(net: torch.nn.Module, images: dict[str, np.ndarray], spec: ModelSpec,
                   device: torch.device) -> list[PseudoLabel]:
    """Pseudo-labels of every target crop, in case order; under torchrun each rank labels its share
    (every N-th case) and all ranks receive all of them."""
    from crossmoda.algorithm.training.selftrain import pseudo_label

    rank, size = world()
    items = list(images.items())
    labels = gather_lists(pseudo_label(net, items[rank::size], spec, device))
    order = {case: i for i, (case, _) in enumerate(items)}
    return sorted(labels, key=lambda p: order[p.case])


def _self_train(stage: Path, data_dir: Path, run_dir: Path, cfg: TrainConfig,
                device: torch.device) -> dict[str, Any]:
    from crossmoda.algorithm.training.selftrain import select_pseudo_labels

    data = run_dir / "data"
    index = RunIndex.read(data)
    source = _stage_volumes(run_dir, cfg)
    images = {c: np.load(data / "target" / f"{c}_image.npy").astype(np.float32) for c in index.target}
    weights = load_state(run_dir / "segment" / "model.pt")
    spec = cfg.model_spec()
    rounds: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for k in range(1, cfg.self_train.rounds + 1):
        rdir = stage / f"round_{k}"
        resumed = (rdir / "model.pt").exists()
        kept = []
        if not resumed:
            net = build_segmenter(cfg.segment.filters, out_channels=len(spec.classes))
            net.load_state_dict(weights)
            net.to(device)
            kept = select_pseudo_labels(_pseudo_labels(net, images, spec, device), images, cfg.self_train,
                                        class_roles(spec.label_map))
        weights = train_segmenter(
            [*source, *kept], cfg.segment, rdir, device=device, seed=cfg.seed + k,
            iterations=cfg.self_train.iterations, lr=cfg.self_train.lr, init_weights=weights,
            desc=f"self-train {k}/{cfg.self_train.rounds}", label_map=spec.label_map,
        )
        # a round finished in an earlier session is loaded, not re-labelled: its count is unknown here
        rounds.append({"round": k, "pseudo_labelled_kept": None if resumed else len(kept)})
    seconds = time.perf_counter() - t0
    val = _export_and_validate(stage, weights, run_dir, data_dir, cfg, "self_train")
    return {"seconds": seconds, "rounds": rounds, "validation_mean": val}


def run_self_train(data_dir: Path, run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Stage 3: ``rounds`` x (pseudo-label target crops with the current model, keep confident
    cleaned ones, fine-tune on pseudo-hrT2 + pseudo-labelled hrT2); exports ``RUN/self_train/model``."""
    return run_stage(run_dir, "self_train", lambda stage: _self_train(stage, data_dir, run_dir, cfg, device))


def _final_model(run_dir: Path, final: Path) -> None:
    """``RUN/model`` = the last stage's model folder (kept when the Koos stage already finished)."""
    koos_model = run_dir / "model" / "koos_model.json"
    if (run_dir / "model").exists() and not (koos_model.is_file() and stage_done(run_dir / "koos")):
        shutil.rmtree(run_dir / "model")
    if not (run_dir / "model").exists():
        shutil.copytree(final, run_dir / "model")


def run_all(data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The whole chain for ``cfg.mode``; writes ``RUN/config.json``, ``RUN/model`` and
    ``RUN/summary.json`` (per-stage seconds and validation)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    resolve_label_map(data_dir, run_dir, cfg)
    on_main(lambda: write_json_atomic(
        run_dir / "config.json", {**cfg.to_dict(), "provenance": provenance("crossmoda-train", cfg)}))
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    summary: dict[str, Any] = {"mode": cfg.mode, "stages": {}}
    t0 = time.perf_counter()
    index = run_prepare(data_dir, run_dir, cfg)
    summary["stages"]["prepare"] = {"cases": {k: len(v) for k, v in index.splits.items()},
                                    "seconds": time.perf_counter() - t0}
    if cfg.mode == "adapted":
        translate = run_translate(run_dir, cfg, device)
        summary["stages"]["translate"] = {k: v for k, v in translate.items() if k != "quality"}
    summary["stages"]["segment"] = run_segment(data_dir, run_dir, cfg, device)
    final = run_dir / "segment" / "model"
    if cfg.mode == "adapted" and cfg.self_train.rounds > 0:
        summary["stages"]["self_train"] = run_self_train(data_dir, run_dir, cfg, device)
        final = run_dir / "self_train" / "model"
    on_main(lambda: _final_model(run_dir, final))
    summary["stages"]["koos"] = run_koos(data_dir, run_dir, cfg)
    # wall time of this call; a resumed run's finished stages keep their own seconds, summed in
    # ``seconds_stages`` (training and apply time; validation passes are not included)
    summary["seconds_total"] = time.perf_counter() - t0
    summary["seconds_stages"] = float(sum(
        float(v) for info in summary["stages"].values() for k, v in info.items()
        if k.startswith("seconds") and isinstance(v, (int, float))
    ))
    on_main(lambda: write_json_atomic(run_dir / "summary.json", summary))
    return summary
