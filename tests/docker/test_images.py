"""The images themselves: entry points, non-root user, labels, no torch in the torch-free ones, size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crossmoda.challenge.config import Limits
from crossmoda.challenge.containers import run_container

from .conftest import VERSION

pytestmark = pytest.mark.docker

ENTRYPOINTS = {
    "algorithm": "crossmoda-algorithm", "evaluation": "crossmoda-evaluate", "ranking": "crossmoda-rank",
}
LIMITS = Limits(time_limit_s=300, memory="2g", gpu="none", tmp_size="64m", shm_size="64m")


def _sh(client: Any, image: str, script: str, tmp_path: Path, name: str) -> tuple[str, str]:
    """Run ``python3 -c script`` in ``image`` (no network, read-only root) -> (status, log)."""
    log = tmp_path / f"{name}.log"
    import docker

    container = client.containers.run(
        image, ["-c", script], entrypoint="python3", detach=True, network_mode="none", read_only=True,
        tmpfs={"/tmp": "rw,size=64m"},
    )
    try:
        code = container.wait(timeout=300)["StatusCode"]
        log.write_bytes(container.logs())
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass
    return ("ok" if code == 0 else f"exit {code}"), log.read_text()


@pytest.mark.parametrize("target", ["algorithm", "evaluation", "ranking"])
def test_image_metadata(docker_client: Any, images: dict[str, str], target: str) -> None:
    attrs = docker_client.images.get(images[target]).attrs
    config = attrs["Config"]
    assert config["Entrypoint"] == [ENTRYPOINTS[target]]
    assert config["User"] == "crossmoda"
    assert "PYTHONUNBUFFERED=1" in config["Env"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert len(labels["org.opencontainers.image.revision"]) in (40, 7) or labels[
        "org.opencontainers.image.revision"] == "unknown"
    if target != "algorithm":
        assert attrs["Size"] < 1_000_000_000, f"{target} image is {attrs['Size'] / 1e9:.2f} GB"


@pytest.mark.parametrize("target", ["evaluation", "ranking"])
def test_torch_free_images_have_no_torch(
    docker_client: Any, images: dict[str, str], target: str, tmp_path: Path
) -> None:
    status, log = _sh(docker_client, images[target], "import torch", tmp_path, target)
    assert status == "exit 1" and "No module named 'torch'" in log
    script = "import os, crossmoda.core.io, scipy; print('uid', os.getuid())"
    status, log = _sh(docker_client, images[target], script, tmp_path, target + "2")
    assert status == "ok", log
    assert "uid 0" not in log and "uid 1000" in log


def test_algorithm_image_has_torch_and_monai(
    docker_client: Any, images: dict[str, str], tmp_path: Path
) -> None:
    script = "import torch, monai, crossmoda.algorithm; print('torch', torch.__version__)"
    status, log = _sh(docker_client, images["algorithm"], script, tmp_path, "alg")
    assert status == "ok", log
    assert "torch 2." in log


@pytest.mark.parametrize("target", ["algorithm", "evaluation", "ranking"])
def test_console_script_help_without_network(
    docker_client: Any, images: dict[str, str], target: str, tmp_path: Path
) -> None:
    run = run_container(docker_client, images[target], mounts={}, limits=LIMITS,
                        log_file=tmp_path / "help.log", command=["--help"], require_images=False)
    log = (tmp_path / "help.log").read_text()
    assert run.status == "ok", log
    assert f"usage: {ENTRYPOINTS[target]}" in log
