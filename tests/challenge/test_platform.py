"""Platform rules -> Docker SDK keyword arguments and ``docker``/``podman run`` argument lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossmoda.challenge.config import Limits
from crossmoda.challenge.jobscript import JobFiles, sbatch_args
from crossmoda.challenge.platform import cli_argv, container_spec, sdk_kwargs

LIMITS = Limits(memory="1g", shm_size="64m", tmp_size="128m", pids_limit=256, cpus=1.5, user="1000:1000",
                env={"OMP_NUM_THREADS": "1"}, gpu="none")
MOUNTS = {Path("/data/test"): ("/input", "ro"), Path("/work/out"): ("/output", "rw")}


def test_cli_argv_is_the_full_rule_set() -> None:
    spec = container_spec(LIMITS, MOUNTS, gpu=False)
    argv = cli_argv("podman", spec, "team/a:1", name="job-1", command=["--fast"], verb="run")
    assert argv == [
        "podman", "run", "--name", "job-1", "--network", "none",
        "--memory", str(1024**3), "--memory-swap", str(1024**3), "--shm-size", str(64 * 1024**2),
        "--tmpfs", f"/tmp:rw,exec,nosuid,nodev,size={128 * 1024**2}", "--pids-limit", "256",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only",
        "--volume", "/data/test:/input:ro", "--volume", "/work/out:/output:rw",
        "--env", "OMP_NUM_THREADS=1", "--cpus", "1.5", "--user", "1000:1000", "team/a:1", "--fast",
    ]
    # pure: the same inputs give the same list, and nothing about the host enters it
    assert cli_argv("podman", spec, "team/a:1", name="job-1", command=["--fast"], verb="run") == argv


@pytest.mark.parametrize(("engine", "flag"), [("docker", ["--gpus", "all"]),
                                              ("podman", ["--device", "nvidia.com/gpu=all"])])
def test_gpu_flag_per_engine(engine: str, flag: list[str]) -> None:
    argv = cli_argv(engine, container_spec(LIMITS, {}, gpu=True), "img", name="n")  # type: ignore[arg-type]
    i = argv.index(flag[0])
    assert argv[i:i + 2] == flag and argv[-1] == "img"
    assert flag[0] not in cli_argv(engine, container_spec(LIMITS, {}, gpu=False), "img", name="n")  # type: ignore[arg-type]


def test_sdk_and_cli_render_the_same_rules() -> None:
    spec = container_spec(LIMITS, MOUNTS, gpu=True)
    kw = sdk_kwargs(spec)
    argv = cli_argv("docker", spec, "img", name="n")
    assert kw["network_mode"] == "none" and argv[argv.index("--network") + 1] == "none"
    assert kw["mem_limit"] == kw["memswap_limit"] == int(argv[argv.index("--memory") + 1])
    assert kw["pids_limit"] == int(argv[argv.index("--pids-limit") + 1])
    assert kw["read_only"] is True and "--read-only" in argv
    assert kw["tmpfs"]["/tmp"] == argv[argv.index("--tmpfs") + 1].split(":", 1)[1]
    assert kw["cap_drop"] == ["ALL"] and kw["security_opt"] == ["no-new-privileges"]
    assert {h: v["mode"] for h, v in kw["volumes"].items()} == {"/data/test": "ro", "/work/out": "rw"}
    assert kw["device_requests"][0]["Count"] == -1 and kw["nano_cpus"] == 1_500_000_000


def test_writable_rootfs_and_bad_values() -> None:
    spec = container_spec(Limits(read_only_rootfs=False, gpu="none"), {}, gpu=False)
    assert "--read-only" not in cli_argv("docker", spec, "img", name="n")
    assert sdk_kwargs(spec)["read_only"] is False
    with pytest.raises(ValueError, match="engine"):
        cli_argv("singularity", spec, "img", name="n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mount mode"):
        container_spec(Limits(), {Path("/x"): ("/input", "rx")}, gpu=False)
    with pytest.raises(ValueError, match="memory size"):
        Limits(output_size="huge")


def test_sbatch_args(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "job")
    args = sbatch_args(job_name="crossmoda-a-0", files=files, time_limit_s=600, memory_bytes=1024**3,
                       cpus=1.5, gpus=1, partition="gpu", account="lab", qos="high", extra=["--exclusive"])
    assert args == [
        "--job-name=crossmoda-a-0", f"--output={files.slurm_log}", f"--chdir={files.folder}",
        "--time=15", "--mem=1280M", "--cpus-per-task=2", "--nodes=1", "--ntasks=1", "--gres=gpu:1",
        "--partition=gpu", "--account=lab", "--qos=high", "--exclusive",
    ]
    bare = sbatch_args(job_name="j", files=files, time_limit_s=30, memory_bytes=512 * 1024**2, cpus=None,
                       gpus=0, partition=None, account=None, qos=None, extra=())
    assert "--time=6" in bare and "--mem=768M" in bare and not any(a.startswith("--gres") for a in bare)
