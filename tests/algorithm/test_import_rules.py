"""Import rules of the algorithm package: model/, inference/ and koos/ never import training/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module({package!r})
names = [package.__name__]
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
    names.append(info.name)
print(json.dumps({{"imported": names, "training": sorted(
    m for m in sys.modules if m.startswith("crossmoda.algorithm.training"))}}))
"""


@pytest.mark.parametrize("package", ["crossmoda.algorithm.inference", "crossmoda.algorithm.model",
                                     "crossmoda.algorithm.koos"])
def test_package_and_every_module_in_it_import_no_training_module(package: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", PROBE.format(package=package)], capture_output=True,
                            text=True, env=env, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["imported"]) > 1, report  # the walk found the package's modules
    assert report["training"] == [], f"{package} pulls in {report['training']}"


def test_the_training_package_is_what_the_probe_would_see() -> None:
    """The probe is not vacuous: importing the training chain does put training modules in sys.modules."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    code = ("import sys, crossmoda.algorithm.training.chain; "
            "print(sum(m.startswith('crossmoda.algorithm.training') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(out.stdout.strip()) > 3
