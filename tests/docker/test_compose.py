"""``docker compose up`` runs the demo end to end: phantom data -> two algorithm "teams" ->
evaluation of each -> ranking report (the README's Compose instructions, on the built images).

Uses Compose v2 (``docker compose``) when the Docker CLI has it, else Compose 1.29+
(``docker-compose``); neither is a failure with instructions, as for a missing engine.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import image_name

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
CASES = 2


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker is not None:
        ok = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, check=False)
        if ok.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is not None:
        return [legacy]
    pytest.fail("no Compose: install the Docker Compose plugin or `apt-get install docker-compose`",
                pytrace=False)


def test_compose_up_runs_the_demo_to_a_leaderboard(tmp_path: Path, docker_client: Any) -> None:
    import docker.errors

    for target in ("phantom", "algorithm", "evaluation", "ranking"):
        try:
            docker_client.images.get(image_name(target))
        except docker.errors.ImageNotFound:
            pytest.fail(f"{image_name(target)} not built; run "
                        "`bash scripts/containers/build_images.sh phantom algorithm evaluation ranking`",
                        pytrace=False)
    demo = tmp_path / "demo"
    demo.mkdir()
    env = {**os.environ, "CROSSMODA_DEMO_DIR": str(demo), "CROSSMODA_CASES": str(CASES),
           "CROSSMODA_SEED": "11"}
    compose = [*_compose(), "-f", str(ROOT / "docker-compose.yml"), "-p", f"crossmoda-test-{os.getpid()}"]
    try:
        run = subprocess.run([*compose, "up", "--no-build"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=1800, check=False)
        log = run.stdout[-4000:] + run.stderr[-4000:]
        assert run.returncode == 0, log
    finally:
        subprocess.run([*compose, "down"], cwd=ROOT, env=env, capture_output=True, timeout=300, check=False)
    test_cases = sorted(p.name for p in (demo / "dataset" / "test").glob("*_hrT2.nii.gz"))
    assert len(test_cases) == CASES, log
    for team in ("adapted", "baseline"):
        labels = sorted((demo / "predictions" / team).glob("*_Label.nii.gz"))
        assert len(labels) == CASES, (team, log)
        assert (demo / "predictions" / team / "predictions.csv").is_file()
        assert (demo / "scores" / team / "metrics.json").is_file(), (team, log)
    with open(demo / "report" / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        board = list(csv.DictReader(fh))
    assert sorted(row["team"] for row in board) == ["adapted", "baseline"]
    assert (demo / "report" / "report.html").is_file()
