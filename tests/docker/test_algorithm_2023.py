"""The crossMoDA 2023 algorithm image: the ``algorithm`` target built with
``--build-arg MODEL=adapted_2023`` (``bash scripts/containers/build_images.sh algorithm-2023``),
run without ``--model`` under platform rules on one 2023 phantom case in folder mode: it picks the
shipped 2023 model and writes ``<case>.nii.gz`` (labels 0-3) and ``predictions.json``, nothing else.

Skipped, with the reason, only when this tree has no shipped 2023 model to build the image with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossmoda.algorithm.model.shipped import SHIPPED_MODELS_DIR
from crossmoda.challenge.config import Limits
from crossmoda.challenge.containers import run_container
from crossmoda.core.io import Geometry, read_array, read_image

from .conftest import image_name

MODEL_2023 = SHIPPED_MODELS_DIR / "adapted_2023"

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not (MODEL_2023 / "model.json").is_file(),
                       reason=f"no shipped crossMoDA 2023 model in this tree ({MODEL_2023} missing)"),
]

TARGET = "algorithm-2023"
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CROSSMODA_DEVICE": "cpu"}
LIMITS = Limits(time_limit_s=900, memory="6g", gpu="none", tmp_size="1g", shm_size="1g", env=THREADS)


@pytest.fixture(scope="module")
def image_2023(docker_client: Any) -> str:
    """The 2023 algorithm image, after checking it exists (a failure with instructions, not a skip)."""
    import docker.errors

    name = image_name(TARGET)
    try:
        docker_client.images.get(name)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {name} not built; run `bash scripts/containers/build_images.sh {TARGET}`",
                    pytrace=False)
    return name


def test_image_defaults_to_the_shipped_2023_model(docker_client: Any, image_2023: str) -> None:
    config = docker_client.images.get(image_2023).attrs["Config"]
    assert config["Entrypoint"] == ["crossmoda-algorithm"]
    assert config["User"] == "crossmoda"
    assert "CROSSMODA_DEFAULT_MODEL=adapted_2023" in config["Env"]
    assert not any(e.startswith("CROSSMODA_MODEL=") for e in config["Env"])  # /opt/ml/model still wins


def test_one_2023_phantom_case_in_folder_mode(docker_client: Any, image_2023: str, tmp_path: Path) -> None:
    from crossmoda.phantom.config import PhantomConfig
    from crossmoda.phantom.dataset import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, PhantomConfig(source=0, target=0, validation=0, test=1, seed=23, edition=2023,
                                         workers=1), progress=False)
    inputs = sorted((data / "test").glob("*_T2.nii.gz"))
    assert len(inputs) == 1
    case = inputs[0].name.removesuffix("_T2.nii.gz")
    for path in [data / "test", *inputs]:  # readable by the image's non-root user
        path.chmod(0o755 if path.is_dir() else 0o644)

    out, log = tmp_path / "output", tmp_path / "algorithm.log"
    mounts = {data / "test": ("/input", "ro"), out: ("/output", "rw")}
    run = run_container(docker_client, image_2023, mounts=mounts, limits=LIMITS, log_file=log,
                        command=["--input", "/input", "--output", "/output"], output_dir=out,
                        require_images=True)
    text = log.read_text()
    assert run.status == "ok", f"{run.status} {run.message}\n{text[-4000:]}"
    assert "(chosen by $CROSSMODA_DEFAULT_MODEL), label map crossmoda2023" in text, text[-4000:]

    assert sorted(p.name for p in out.iterdir()) == sorted([f"{case}.nii.gz", "predictions.json"])
    labels, geometry = read_array(out / f"{case}.nii.gz")
    assert set(np.unique(labels).tolist()) <= {0, 1, 2, 3}
    assert geometry == Geometry.from_image(read_image(inputs[0]))
    record = json.loads((out / "predictions.json").read_text())
    assert not record["failures"] and list(record["cases"]) == [case]
