"""crossmoda-challenge logic against a fake Docker client (no engine needed)."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests.exceptions

from crossmoda.challenge.config import ChallengeConfig, Limits, Team, parse_memory, parse_team
from crossmoda.challenge.containers import count_outputs, run_container
from crossmoda.challenge.export import pack_model, save_image
from crossmoda.challenge.report import TeamResult, build_report, read_leaderboard_csv, to_markdown


class FakeContainer:
    def __init__(self, behaviour: str, output: Path | None) -> None:
        self.behaviour = behaviour
        self.output = output
        self.killed = False
        self.removed = False
        self.attrs: dict[str, Any] = {"State": {"OOMKilled": behaviour == "oom"}}
        self.id = "c0ffee"

    def wait(self, timeout: float) -> dict[str, int]:
        if self.behaviour == "sleep":
            raise requests.exceptions.ConnectionError("read timed out")
        if self.behaviour == "ok" and self.output is not None:
            (self.output / "crossmoda2022_etz_1_Label.nii.gz").write_bytes(b"x")
        return {"StatusCode": {"ok": 0, "silent": 0, "crash": 1, "oom": 137}[self.behaviour]}

    def start(self) -> None:
        pass

    def kill(self) -> None:
        self.killed = True

    def logs(self, stdout: bool, stderr: bool, stream: bool = False, follow: bool = True) -> Any:
        data = f"log of {self.behaviour}\n".encode()
        return iter([data[:3], data[3:]]) if stream else data

    def reload(self) -> None:
        pass

    def remove(self, force: bool = False) -> None:
        self.removed = True


class FakeImage:
    id = "sha256:abc"
    attrs = {"Size": 6}

    def save(self, named: bool = False) -> list[bytes]:
        return [b"abc", b"def"]


class FakeImages:
    def get(self, ref: str) -> FakeImage:
        if ref.startswith("missing"):
            raise docker.errors.ImageNotFound(f"no such image {ref}")
        return FakeImage()


class FakeContainers:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def create(self, image: str, command: Any, **kwargs: Any) -> FakeContainer:
        self.client.kwargs = kwargs
        out = next((Path(h) for h, v in kwargs["volumes"].items() if v["bind"] == "/output"), None)
        self.client.container = FakeContainer(image.split(":")[0], out)
        return self.client.container


class FakeClient:
    def __init__(self) -> None:
        self.images = FakeImages()
        self.containers = FakeContainers(self)
        self.kwargs: dict[str, Any] = {}
        self.container: FakeContainer | None = None


@pytest.mark.parametrize(
    ("image", "status", "exit_code", "n_outputs"),
    [("ok:1", "ok", 0, 1), ("crash:1", "crashed", 1, 0), ("sleep:1", "timeout", None, 0),
     ("oom:1", "oom", 137, 0), ("silent:1", "silent", 0, 0), ("missing:1", "error", None, 0)],
)
def test_run_container_classifies_outcomes(
    tmp_path: Path, image: str, status: str, exit_code: int | None, n_outputs: int
) -> None:
    client = FakeClient()
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    limits = Limits(time_limit_s=5, memory="1g", gpu="none")
    run = run_container(client, image, mounts={inp: ("/input", "ro"), out: ("/output", "rw")}, limits=limits,
                        log_file=tmp_path / "a.log", output_dir=out)
    assert (run.status, run.exit_code, run.n_outputs) == (status, exit_code, n_outputs)
    assert run.log_file is not None and run.log_file.read_text()
    if status != "error":
        assert run.log_file.read_text() == f"log of {image.split(':')[0]}\n"
    if status == "error":
        assert client.container is None and "not found" in run.message
        return
    assert client.container is not None and client.container.removed
    assert client.container.killed == (status == "timeout")
    kw = client.kwargs
    assert kw["network_mode"] == "none" and kw["network_disabled"] is True
    assert kw["volumes"][str(inp.resolve())] == {"bind": "/input", "mode": "ro"}
    assert kw["volumes"][str(out.resolve())] == {"bind": "/output", "mode": "rw"}
    assert kw["mem_limit"] == kw["memswap_limit"] == 1024**3
    assert "/tmp" in kw["tmpfs"] and kw["cap_drop"] == ["ALL"]
    assert kw["read_only"] is True and kw["security_opt"] == ["no-new-privileges"]
    assert "device_requests" not in kw


def test_gpu_all_adds_device_request(tmp_path: Path) -> None:
    client = FakeClient()
    run_container(client, "ok:1", mounts={}, limits=Limits(gpu="all"), log_file=tmp_path / "l.log")
    (request,) = client.kwargs["device_requests"]
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]


def test_parsers() -> None:
    assert parse_memory("4g") == 4 * 1024**3
    assert parse_memory("512m") == 512 * 1024**2
    assert parse_memory("1.5G") == int(1.5 * 1024**3)
    assert parse_memory("2048") == 2048
    with pytest.raises(ValueError, match="memory size"):
        parse_memory("lots")
    assert parse_team("alpha=reg/alpha:1") == Team("alpha", "reg/alpha:1")
    with pytest.raises(ValueError, match="NAME=IMAGE"):
        parse_team("alpha")
    with pytest.raises(ValueError, match="team name"):
        parse_team("../x=img")
    with pytest.raises(ValueError, match="unique"):
        ChallengeConfig(teams=(Team("a", "i"), Team("a", "j")), input_dir=Path("."),
                        ground_truth=Path("."), output_dir=Path("."))


def test_report_orders_by_rank_and_lists_failures(tmp_path: Path) -> None:
    from crossmoda.challenge.containers import ContainerRun

    log = tmp_path / "b.log"
    log.write_text("\n".join(f"line {i}" for i in range(30)) + "\nTraceback: boom\n")
    results = [
        TeamResult("b", ContainerRun("b:1", status="crashed", exit_code=1, message="exited with status 1",
                                     log_file=log), scored_as_missing=True),
        TeamResult("a", ContainerRun("a:1", status="ok", exit_code=0, n_outputs=3), scored_as_missing=False),
        TeamResult("c", ContainerRun("c:1", status="timeout", message="killed"), scored_as_missing=True),
    ]
    csv_path = tmp_path / "leaderboard.csv"
    csv_path.write_text("team,rank,score,VS_Dice_median\na,1,1.0,0.9\nb,2,2.0,0\nc,2,2.0,0\n")
    ranks = read_leaderboard_csv(csv_path)
    assert ranks == {"a": (1, 1.0), "b": (2, 2.0), "c": (2, 2.0)}
    report = build_report(results, ranks)
    assert [r["team"] for r in report["leaderboard"]] == ["a", "b", "c"]
    assert [f["team"] for f in report["failures"]] == ["b", "c"]
    assert report["failures"][0]["log_tail"].endswith("Traceback: boom")
    assert len(report["failures"][0]["log_tail"].splitlines()) == 20
    md = to_markdown(report)
    assert "| 1 | a | 1.0000 | ok |" in md
    assert "### b: crashed" in md and "### c: timeout" in md and "scored as missing" in md
    unranked = build_report(results, None, ranking_message="crossmoda-rank exited with status 2")
    assert [r["rank"] for r in unranked["leaderboard"]] == [None, None, None]
    assert "Ranking failed" in to_markdown(unranked)


def test_count_outputs(tmp_path: Path) -> None:
    (tmp_path / "images" / "seg").mkdir(parents=True)
    (tmp_path / "images" / "seg" / "output.mha").write_bytes(b"")
    (tmp_path / "a_Label.nii.gz").write_bytes(b"")
    (tmp_path / "predictions.csv").write_text("case,class\n")
    assert count_outputs(tmp_path) == 2
    assert count_outputs(tmp_path / "nope") == 0


def test_export_image_and_model(tmp_path: Path) -> None:
    out = save_image(FakeClient(), "team:1", tmp_path / "team.tar.gz")
    assert gzip.decompress(out.read_bytes()) == b"abcdef"
    model = tmp_path / "model"
    (model / "fold0").mkdir(parents=True)
    (model / "meta.json").write_text("{}")
    (model / "fold0" / "w.pt").write_bytes(b"123")
    (model / ".cache").write_text("skip")
    archive = pack_model(model, tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["fold0/w.pt", "meta.json"]
        assert all(m.uid == 0 for m in tar.getmembers())
    with pytest.raises(FileNotFoundError):
        pack_model(tmp_path / "none", tmp_path / "x.tar.gz")
