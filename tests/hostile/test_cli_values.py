"""Bad command-line and environment values: a one-line message and exit status 2."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossmoda.core.cli import (
    UsageError,
    check_writable_dir,
    env_float,
    env_int,
    finite_float,
    fraction,
    positive_float,
    positive_int,
    run_cli,
)
from tests.hostile.conftest import evaluate


def _evaluate_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; from crossmoda.evaluation.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
                          timeout=120, check=False)


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0", "abc"])
def test_distance_cap_bad_values(challenge_data: dict[str, Path], value: str) -> None:
    out = _evaluate_cli(["--predictions", str(challenge_data["pred"]), "--ground-truth",
                         str(challenge_data["gt"]), "--output", str(challenge_data["out"]),
                         "--distance-cap-mm", value])
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "--distance-cap-mm" in out.stderr.strip().splitlines()[-1]
    assert not (challenge_data["out"] / "metrics.json").exists()


@pytest.mark.parametrize(("name", "value"), [("CROSSMODA_EVAL_WORKERS", "abc"),
                                             ("CROSSMODA_EVAL_WORKERS", "0"),
                                             ("CROSSMODA_MAX_VOXELS", "lots"),
                                             ("CROSSMODA_MAX_EXTENT_MM", "nan")])
def test_bad_environment_values(challenge_data: dict[str, Path], name: str, value: str) -> None:
    out = _evaluate_cli(["--predictions", str(challenge_data["pred"]), "--ground-truth",
                         str(challenge_data["gt"]), "--output", str(challenge_data["out"])], {name: value})
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in out.stderr


def test_output_under_a_file_is_found_before_scoring(challenge_data: dict[str, Path],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    blocker = challenge_data["root"] / "blocker"
    blocker.write_text("x")
    rc, _ = evaluate({**challenge_data, "out": blocker / "out"})
    assert rc == 2
    assert not any("cases scored" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into any folder")
def test_unwritable_output_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="not writable"):
            check_writable_dir(folder / "out")
    finally:
        folder.chmod(0o700)


def test_argument_types() -> None:
    assert positive_float("2.5") == 2.5 and finite_float("-1") == -1.0 and fraction("1") == 1.0
    assert positive_int("3") == 3
    for fn, text in [(positive_float, "nan"), (positive_float, "-inf"), (positive_float, "0"),
                     (finite_float, "inf"), (fraction, "1.5"), (positive_int, "0"), (positive_int, "1.5")]:
        with pytest.raises(argparse.ArgumentTypeError):
            fn(text)


def test_env_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INT", " 4 ")
    assert env_int("X_INT") == 4
    monkeypatch.setenv("X_INT", "four")
    with pytest.raises(UsageError, match="X_INT='four' is not an integer"):
        env_int("X_INT")
    monkeypatch.delenv("X_INT")
    assert env_int("X_INT", default=7) == 7
    monkeypatch.setenv("X_FLOAT", "inf")
    with pytest.raises(UsageError):
        env_float("X_FLOAT")


def test_run_cli_turns_errors_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> int:
        raise UsageError("bad\nvalue")

    assert run_cli("tool", body) == 2
    assert capsys.readouterr().err == "tool: error: bad value\n"


@pytest.mark.parametrize("args", [["generate", "x", "--postop-fraction", "2"],
                                  ["generate", "x", "--test", "-1"], ["generate", "x", "--workers", "0"]])
def test_phantom_bad_values(args: list[str]) -> None:
    from crossmoda.phantom.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2


def test_phantom_output_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crossmoda.phantom.cli import main

    (tmp_path / "f").write_text("x")
    assert main(["generate", str(tmp_path / "f" / "data"), "--test", "1"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_demo_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crossmoda.demo import main

    with pytest.raises(SystemExit) as info:
        main(["--cases", "0"])
    assert info.value.code == 2
    (tmp_path / "f").write_text("x")
    assert main(["--output", str(tmp_path / "f" / "demo")]) == 2
