"""Shared phantom data sets (generated once per test session, small preset, tiny counts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossmoda.phantom.cli import main


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 cases per split (so every split must hold all four grades), seed 3, via the CLI."""
    out = tmp_path_factory.mktemp("phantom") / "ds"
    rc = main(["generate", str(out), "--source", "4", "--target", "4", "--validation", "4", "--test", "4",
               "--seed", "3", "--workers", "2", "--no-progress"])
    assert rc == 0
    return out
