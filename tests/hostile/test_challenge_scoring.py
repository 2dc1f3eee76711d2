"""The challenge scores a team's predictions from an organiser-owned copy (links never followed)
and kills the whole process group of a local tool on timeout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from crossmoda.challenge import scoring
from crossmoda.challenge.config import Scoring
from crossmoda.challenge.scoring import _run_local, evaluate_team
from tests.hostile.conftest import errors_by_case

needs_script = pytest.mark.skipif(shutil.which("crossmoda-evaluate") is None
                                  and not (Path(sys.executable).parent / "crossmoda-evaluate").exists(),
                                  reason="crossmoda-evaluate console script not installed")


def _score(data: dict[str, Path], **kw: object) -> tuple[scoring.ToolRun, dict]:
    out = data["root"] / "scores"
    run = evaluate_team(data["pred"], data["gt"], out, koos_predictions=data["pred"] / "predictions.csv",
                        koos_truth=data["gt"] / "koos.csv",
                        scoring=Scoring(evaluation_args=("--no-progress",)),
                        log_file=data["root"] / "eval.log", **kw)  # type: ignore[arg-type]
    path = out / "metrics.json"
    return run, json.loads(path.read_text()) if path.is_file() else {}


@needs_script
def test_links_to_truth_and_host_files_are_not_followed(challenge_data: dict[str, Path]) -> None:
    pred, gt = challenge_data["pred"], challenge_data["gt"]
    (pred / "crossmoda2022_etz_1_Label.nii.gz").unlink()
    (pred / "crossmoda2022_etz_1_Label.nii.gz").symlink_to(gt / "crossmoda2022_etz_1_Label.nii.gz")
    (pred / "predictions.csv").unlink()
    (pred / "predictions.csv").symlink_to(challenge_data["secret"])
    run, m = _score(challenge_data)
    assert run.ok, run.message
    assert m["case"]["crossmoda2022_etz_1"]["VS_Dice"] == 0.0
    assert m["case"]["crossmoda2022_etz_2"]["VS_Dice"] > 0.3
    text = json.dumps(m)
    assert "TOPSECRET" not in text and "root:x" not in text
    assert str(pred) not in text  # scored from the copy, never from the team's folder
    assert "crossmoda2022_etz_1" in m["missing"] or "crossmoda2022_etz_1" in errors_by_case(m)


def test_predictions_over_the_cap_are_not_scored(challenge_data: dict[str, Path]) -> None:
    run, m = _score(challenge_data, max_bytes=1000)
    assert not run.ok and "cap of 1000 bytes" in run.message
    assert m == {}


def test_stage_keeps_an_organiser_koos_table_outside_the_folder(tmp_path: Path,
                                                                challenge_data: dict[str, Path]) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("case,class\n")
    folder, koos, problem = scoring._stage_predictions(challenge_data["pred"], empty, tmp_path / "s", 10**9)
    assert problem == "" and koos == empty
    assert (folder / "predictions.csv").is_file() and not (folder / "predictions.csv").is_symlink()


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"import subprocess, time; p = subprocess.Popen(['sleep', '60']); " \
             f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    run = _run_local([sys.executable, "-c", script], tmp_path / "log", time_limit_s=3)
    assert not run.ok and "timed out" in run.message
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        stat = Path(f"/proc/{child}/stat")
        if stat.is_file() and stat.read_text().split(")")[-1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the tool's child process outlived the timeout")
