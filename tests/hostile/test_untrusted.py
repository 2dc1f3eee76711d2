"""core.untrusted: links, special files, caps and copies of submission-controlled folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossmoda.core.errors import CrossmodaError
from crossmoda.core.untrusted import (
    UntrustedFileError,
    check_untrusted_file,
    copy_untrusted_tree,
    list_untrusted,
    open_untrusted,
    read_untrusted_bytes,
)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0\n")
    sub = tmp_path / "team"
    sub.mkdir()
    (sub / "a.txt").write_bytes(b"aaaa")
    (sub / "b.txt").write_bytes(b"bb")
    (sub / "link.txt").symlink_to(outside)
    (sub / "dirlink").symlink_to(tmp_path)
    (sub / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(sub / "fifo")
    (sub / "nested").mkdir()
    (sub / "nested" / "c.txt").write_bytes(b"c" * 10)
    (sub / "nested" / "up").symlink_to(outside)
    (sub / ".hidden").write_bytes(b"h")
    return sub


def test_error_is_a_project_error_naming_the_file(tmp_path: Path) -> None:
    err = UntrustedFileError(tmp_path / "x", "is a symbolic link")
    assert isinstance(err, CrossmodaError)
    assert "x: is a symbolic link" in str(err)


def test_list_untrusted_keeps_regular_files_and_names_every_refusal(folder: Path) -> None:
    files, refused = list_untrusted(folder)
    assert [p.name for p in files] == ["a.txt", "b.txt"]
    reasons = {p.name: r for p, r in refused}
    assert "symbolic link" in reasons["link.txt"]
    assert "symbolic link" in reasons["dirlink"]
    assert "symbolic link" in reasons["dangling"]
    assert "FIFO" in reasons["fifo"]
    assert "directory" in reasons["nested"]
    assert reasons[".hidden"] == "hidden"


def test_list_untrusted_accepts_a_linked_folder(folder: Path, tmp_path: Path) -> None:
    link = tmp_path / "organiser_link"
    link.symlink_to(folder)
    files, _ = list_untrusted(link)
    assert [p.name for p in files] == ["a.txt", "b.txt"]
    assert all(p.parent == link for p in files)


def test_list_untrusted_missing_or_file(tmp_path: Path) -> None:
    with pytest.raises(UntrustedFileError, match="not found"):
        list_untrusted(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UntrustedFileError, match="not a directory"):
        list_untrusted(tmp_path / "f")


def test_open_untrusted_refuses_links_fifos_dirs_devices(folder: Path) -> None:
    with pytest.raises(UntrustedFileError, match="symbolic link"):
        open_untrusted(folder / "link.txt")
    with pytest.raises(UntrustedFileError, match="symbolic link"):
        open_untrusted(folder / "dangling")
    with pytest.raises(UntrustedFileError, match="FIFO"):  # must not block
        open_untrusted(folder / "fifo")
    with pytest.raises(UntrustedFileError, match="directory"):
        open_untrusted(folder / "nested")
    with pytest.raises(UntrustedFileError, match="device"):
        open_untrusted(Path("/dev/null"))
    with pytest.raises(UntrustedFileError, match="not found"):
        open_untrusted(folder / "missing")
    with pytest.raises(UntrustedFileError):
        check_untrusted_file(folder / "link.txt")
    check_untrusted_file(folder / "a.txt")


def test_open_and_read_with_caps(folder: Path) -> None:
    with open_untrusted(folder / "a.txt") as handle:
        assert handle.read() == b"aaaa"
    assert read_untrusted_bytes(folder / "a.txt", 4) == b"aaaa"
    with pytest.raises(UntrustedFileError, match="cap of 3 bytes"):
        read_untrusted_bytes(folder / "a.txt", 3)
    with pytest.raises(UntrustedFileError, match="cap"):
        open_untrusted(folder / "a.txt", max_bytes=2)


def test_copy_untrusted_tree_copies_only_regular_files(folder: Path, tmp_path: Path) -> None:
    dst = tmp_path / "copy"
    report = copy_untrusted_tree(folder, dst, max_total_bytes=1000)
    assert sorted(map(str, report.copied)) == [".hidden", "a.txt", "b.txt", "nested/c.txt"]
    assert report.bytes == 1 + 4 + 2 + 10
    assert not report.over_cap
    refused = {str(p): r for p, r in report.refused}
    assert set(refused) == {"link.txt", "dirlink", "dangling", "fifo", "nested/up"}
    assert (dst / "nested" / "c.txt").read_bytes() == b"c" * 10
    for path in dst.rglob("*"):
        assert not path.is_symlink()
        assert path.lstat().st_uid == os.getuid()
    assert not (dst / "link.txt").exists()


def test_copy_untrusted_tree_stops_at_the_cap(folder: Path, tmp_path: Path) -> None:
    dst = tmp_path / "copy"
    report = copy_untrusted_tree(folder, dst, max_total_bytes=6)
    assert report.over_cap
    assert report.bytes <= 6
    total = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    assert total == report.bytes
    assert any("cap of 6 bytes" in r for _, r in report.refused)


def test_copy_untrusted_tree_big_file_is_not_read_past_the_cap(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(b"x" * (3 << 20))
    report = copy_untrusted_tree(src, tmp_path / "dst", max_total_bytes=(1 << 20) + 5)
    assert report.over_cap
    assert report.copied == []
    assert not (tmp_path / "dst" / "big.bin").exists()


def test_copy_untrusted_tree_from_a_linked_root(folder: Path, tmp_path: Path) -> None:
    link = tmp_path / "root_link"
    link.symlink_to(folder)
    report = copy_untrusted_tree(link, tmp_path / "dst", max_total_bytes=1000)
    assert Path("a.txt") in report.copied
    with pytest.raises(UntrustedFileError):
        copy_untrusted_tree(folder / "a.txt", tmp_path / "dst2", max_total_bytes=10)
