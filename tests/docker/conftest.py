"""Fixtures of the container tests (``pytest -m docker``).

They need a Docker-compatible engine (``DOCKER_HOST``; ``scripts/containers/setup_engine.sh``) and
the images built by ``scripts/containers/build_images.sh``. A missing engine or image is a test
failure with instructions, never a skip: CI runs these tests to prove the images work.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from crossmoda import __version__

VERSION = __version__
PREFIX = os.environ.get("CROSSMODA_IMAGE_PREFIX", "crossmoda/")
BASE_IMAGE = os.environ.get("CROSSMODA_BASE_IMAGE", "localhost/crossmoda-python-base:bookworm")


def image_name(target: str) -> str:
    """The tag ``build_images.sh`` gives a Dockerfile target."""
    return f"{PREFIX}{target}:{VERSION}"


@pytest.fixture(scope="session")
def docker_client() -> Any:
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as err:  # any failure to reach the engine means the same thing here
        pytest.fail(
            f"no container engine at DOCKER_HOST={os.environ.get('DOCKER_HOST')!r} ({err}); run "
            "`source <(bash scripts/containers/setup_engine.sh)` first", pytrace=False,
        )
    return client


@pytest.fixture(scope="session")
def images(docker_client: Any) -> dict[str, str]:
    """Target -> image name, after checking that every image exists."""
    import docker.errors

    names = {t: image_name(t) for t in ("algorithm", "evaluation", "ranking")}
    missing = []
    for name in names.values():
        try:
            docker_client.images.get(name)
        except docker.errors.ImageNotFound:
            missing.append(name)
    if missing:
        pytest.fail(f"images {missing} not built; run `bash scripts/containers/build_images.sh`",
                    pytrace=False)
    return names


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    """The local Python base image (fake team images build on it without network)."""
    import docker.errors

    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"base image {BASE_IMAGE} missing; run scripts/containers/setup_engine.sh", pytrace=False)
    return BASE_IMAGE
