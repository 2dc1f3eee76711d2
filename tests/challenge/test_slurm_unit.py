"""Slurm backend pieces without a cluster: the job script against a fake engine, Slurm state
parsing and mapping, output collection, bounded logs, process-group kills."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from crossmoda.challenge import outputs, slurm
from crossmoda.challenge.config import Limits
from crossmoda.challenge.jobscript import JobFiles, job_script
from crossmoda.challenge.outputs import BoundedLog, collect_output, remove_tree, tail_bytes
from crossmoda.challenge.platform import cli_argv, container_spec
from crossmoda.challenge.process import run_group
from crossmoda.challenge.slurm_backend import ShardRun, _finish, shard_cases

FAKE_ENGINE = r"""#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/calls.log"
case "$1" in
  image) case "$3" in *missing*) exit 1;; esac; exit 0;;
  rm|kill) exit 0;;
  inspect) [ -f "$FAKE_DIR/inspect" ] && cat "$FAKE_DIR/inspect" && exit 0; exit 1;;
  run)
    out=""; image=""; shift
    while [ $# -gt 0 ]; do
      case "$1" in
        --volume) case "$2" in *:/output:rw) out="${2%:/output:rw}";; esac; shift 2;;
        --read-only) shift;;
        --*) shift 2;;
        *) image="$1"; break;;
      esac
    done
    echo "fake run of $image"
    case "$image" in
      good) touch "$out/c1_Label.nii.gz"; echo "0 false" > "$FAKE_DIR/inspect"; exit 0;;
      crash) echo "1 false" > "$FAKE_DIR/inspect"; exit 1;;
      oom) echo "137 true" > "$FAKE_DIR/inspect"; exit 137;;
      sleep) echo "0 false" > "$FAKE_DIR/inspect"; exec sleep 30;;
      chatty) head -c 5000 /dev/zero | tr '\0' 'x'; echo "0 false" > "$FAKE_DIR/inspect"; exit 0;;
      *) exit 125;;
    esac;;
esac
"""


def _run_job(tmp_path: Path, image: str, time_limit_s: float = 20) -> tuple[dict, JobFiles]:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "docker").write_text(FAKE_ENGINE)
    (fake / "docker").chmod(0o755)
    files = JobFiles(tmp_path / image)
    files.folder.mkdir()
    spec = container_spec(Limits(gpu="none", memory="1g"), {tmp_path: ("/input", "ro"),
                                                           files.staging: ("/output", "rw")}, gpu=False)
    argv = cli_argv("docker", spec, image, name=f"n-{image}", verb="run")
    files.script.write_text(job_script(engine="docker", name=f"n-{image}", image=image, run_argv=argv,
                                       files=files, time_limit_s=time_limit_s, memory="1g",
                                       max_log_bytes=1000))
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_DIR": str(files.folder)}
    subprocess.run(["bash", str(files.script)], env=env, check=True, timeout=60, cwd=files.folder)
    return json.loads(files.result.read_text()), files


@pytest.mark.parametrize(("image", "status", "exit_code"), [
    ("good", "ok", 0), ("crash", "crashed", 1), ("oom", "oom", 137), ("missing", "error", None),
    ("broken", "error", None)])
def test_job_script_records_the_outcome(
    tmp_path: Path, image: str, status: str, exit_code: int | None
) -> None:
    result, files = _run_job(tmp_path, image)
    assert (result["status"], result["exit_code"]) == (status, exit_code)
    assert result["script_s"] >= result["runtime_s"] >= 0
    calls = (files.folder / "calls.log").read_text()
    if image == "missing":
        assert "not found on node" in result["message"] and " run " not in f" {calls}"
        return
    assert "--network none" in calls and "--read-only" in calls and "--cap-drop ALL" in calls
    assert calls.rstrip().splitlines()[-1].startswith("rm -f n-")  # the container is removed at exit
    assert f"fake run of {image}" in files.container_log.read_text()
    if image == "good":
        assert (files.staging / "c1_Label.nii.gz").is_file()


def test_job_script_stops_at_the_time_limit_and_bounds_the_log(tmp_path: Path) -> None:
    t0 = time.monotonic()
    result, files = _run_job(tmp_path, "sleep", time_limit_s=1)
    assert result["status"] == "timeout" and time.monotonic() - t0 < 15
    assert "kill n-sleep" in (files.folder / "calls.log").read_text()
    result, files = _run_job(tmp_path, "chatty")
    assert result["status"] == "ok" and files.container_log.stat().st_size == 1000


SCONTROL = (
    "JobId=7 JobName=crossmoda-a-0 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 "
    "SubmitTime=2026-12-03T06:51:53 StartTime=2026-12-03T06:51:54 EndTime=2026-12-03T06:53:54 NodeList=vm\n"
    "JobId=8 JobState=RUNNING Reason=None ExitCode=0:0 SubmitTime=2026-12-03T06:51:53 StartTime=Unknown\n"
)


def test_parse_slurm_outputs() -> None:
    jobs = slurm.parse_scontrol(SCONTROL)
    assert jobs["7"].state == "TIMEOUT" and jobs["7"].final and jobs["7"].reason == "TimeLimit"
    assert jobs["7"].start == datetime(2026, 12, 3, 6, 51, 54)
    assert jobs["8"].state == "RUNNING" and not jobs["8"].final and jobs["8"].start is None
    sacct = "12|CANCELLED by 0|0:15|2026-12-03T07:00:00|2026-12-03T07:00:01|2026-12-03T07:00:05\n12.batch|x\n"
    assert slurm.parse_sacct(sacct)["12"].state == "CANCELLED"
    assert slurm.slurm_status("OUT_OF_MEMORY")[0] == "oom" and slurm.slurm_status("TIMEOUT")[0] == "timeout"
    assert slurm.slurm_status("NODE_FAIL") == ("error", "the node running the job failed")
    assert slurm.slurm_status("WHATEVER")[0] == "error"


@pytest.mark.parametrize(("state", "result", "status", "words"), [
    ("COMPLETED", {"status": "ok", "exit_code": 0, "runtime_s": 3}, "ok", ""),
    ("COMPLETED", {"status": "crashed", "exit_code": 2, "runtime_s": 1, "message": "exited with status 2"},
     "crashed", "status 2"),
    ("COMPLETED", None, "error", "without recording"),
    ("NODE_FAIL", None, "error", "node"),
    ("OUT_OF_MEMORY", None, "oom", "memory"),
    ("TIMEOUT", {"status": "ok"}, "timeout", "time limit"),
    ("CANCELLED", None, "error", "cancelled"),
    (None, None, "error", "no longer knows"),
])
def test_finish_maps_states(tmp_path: Path, state: str | None, result: dict | None, status: str, words: str
                            ) -> None:
    files = JobFiles(tmp_path / "job")
    files.staging.mkdir(parents=True)
    (files.staging / "a_Label.nii.gz").write_bytes(b"img")
    if result is not None:
        files.result.write_text(json.dumps(result))
    run = ShardRun("team", 0, ["a"], "fp", job_id="5")
    info = None if state is None else slurm.JobInfo("5", state)
    _finish(run, info, files, cap=1000, trash=tmp_path / "trash")
    assert run.status == status and words in run.message
    assert (files.collected / "a_Label.nii.gz").read_bytes() == b"img" and not files.staging.exists()


def test_finish_refuses_links_and_oversized_outputs(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "job")
    files.staging.mkdir(parents=True)
    (files.staging / "a_Label.nii.gz").symlink_to("/etc/passwd")
    files.result.write_text(json.dumps({"status": "ok", "exit_code": 0}))
    run = ShardRun("team", 0, ["a"], "fp", job_id="5")
    _finish(run, slurm.JobInfo("5", "COMPLETED"), files, cap=1000, trash=tmp_path / "trash")
    assert run.status == "silent" and "symbolic link" in run.refused[0]
    assert not (files.collected / "a_Label.nii.gz").exists()
    files.staging.mkdir()
    (files.staging / "a_Label.nii.gz").write_bytes(b"x" * 2000)
    _finish(run, slurm.JobInfo("5", "COMPLETED"), files, cap=1000, trash=tmp_path / "trash")
    assert run.status == "oversized" and run.over_cap


def test_shard_cases(tmp_path: Path) -> None:
    for case in ("c_3", "c_1", "c_2"):
        (tmp_path / f"{case}_hrT2.nii.gz").write_bytes(b"")
    (tmp_path / ".hidden").write_bytes(b"")
    assert shard_cases(tmp_path, None) == [["c_1", "c_2", "c_3"]]
    assert shard_cases(tmp_path, 2) == [["c_1", "c_2"], ["c_3"]]


def test_unreachable_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(slurm.SlurmError, match="sbatch not found"):
        slurm.check_slurm()
    down = "echo 'Slurmctld(primary) at x is DOWN'"
    for cmd, body in (("sbatch", "exit 0"), ("squeue", "exit 0"), ("scontrol", down)):
        (tmp_path / cmd).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / cmd).chmod(0o755)
    with pytest.raises(slurm.SlurmError, match="not answering"):
        slurm.check_slurm()


def test_collect_output(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    (staging / "sub").mkdir(parents=True)
    (staging / "a_Label.nii.gz").write_bytes(b"a" * 10)
    (staging / "sub" / "b_Label.mha").write_bytes(b"b" * 10)
    (staging / "c_Label.nii.gz").symlink_to(tmp_path / "secret")
    os.mkfifo(staging / "fifo")
    report = collect_output(staging, tmp_path / "out", max_bytes=100)
    assert (report.n_images, report.bytes, report.over_cap) == (2, 20, False)
    assert sorted(r.split(":")[0] for r in report.refused) == ["c_Label.nii.gz", "fifo"]
    capped = collect_output(staging, tmp_path / "out2", max_bytes=15)
    assert capped.over_cap and capped.bytes <= 15
    assert collect_output(tmp_path / "none", tmp_path / "out3", 10).n_images == 0


def test_remove_tree_moves_undeletable_trees_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "staging"
    (tree / "deep").mkdir(parents=True)
    (tree / "deep" / "f").write_bytes(b"x")
    calls: list[Path] = []

    def refuse(path: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(outputs.shutil, "rmtree", refuse)
    remove_tree(tree, tmp_path / "trash", cleaner=calls.append)
    assert calls == [tree] and not tree.exists()
    (moved,) = (tmp_path / "trash").iterdir()
    assert (moved / "deep" / "f").read_bytes() == b"x"
    monkeypatch.setattr(outputs.shutil, "rmtree", shutil.rmtree)
    remove_tree(tmp_path / "absent", tmp_path / "trash")


def test_bounded_log_and_tail(tmp_path: Path) -> None:
    log = BoundedLog(10)
    for chunk in (b"abc", b"defgh", b"ijklmnop", b"q" * 30, b"rs"):
        log.feed(chunk)
        assert log._size <= 10 + 30
    assert log.value() == b"q" * 8 + b"rs"
    path = tmp_path / "big.log"
    path.write_bytes(b"0123456789" * 1000)
    assert tail_bytes(path, 5) == b"56789" and tail_bytes(path, 10**6) == b"0123456789" * 1000


def test_run_group_kills_the_whole_group() -> None:
    t0 = time.monotonic()
    res = run_group(["bash", "-c", "sleep 60 & echo $!; wait"], timeout_s=1.0)
    assert res.timed_out and res.returncode is None and time.monotonic() - t0 < 10
    child = int(res.stdout.split()[0])
    time.sleep(0.2)
    state = Path(f"/proc/{child}/stat")
    assert not state.exists() or state.read_text().split()[2] == "Z"
    ok = run_group(["sh", "-c", "echo hi; exit 3"], timeout_s=10)
    assert (ok.returncode, ok.stdout, ok.timed_out) == (3, "hi\n", False)


def test_finish_after_an_interrupted_collection_keeps_the_copy(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "job")
    files.collected.mkdir(parents=True)
    (files.collected / "a_Label.nii.gz").write_bytes(b"img")
    files.result.write_text(json.dumps({"status": "ok", "exit_code": 0}))
    run = ShardRun("team", 0, ["a"], "fp", job_id="5")
    _finish(run, slurm.JobInfo("5", "COMPLETED"), files, cap=1000, trash=tmp_path / "trash")
    assert run.status == "ok" and run.n_images == 1 and run.bytes == 3
    assert (files.collected / "a_Label.nii.gz").read_bytes() == b"img"
