"""Koos tables a team writes: bytes that are not UTF-8, duplicated columns, bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossmoda.core.errors import KoosTableError
from crossmoda.core.koos import read_koos_csv
from tests.hostile.conftest import errors_by_case, evaluate


def test_non_utf8_row_is_a_row_error_and_segmentations_are_scored(challenge_data: dict[str, Path]) -> None:
    csv = challenge_data["pred"] / "predictions.csv"
    csv.write_bytes(b"case,class\ncrossmoda2022_etz_1,1\ncrossmoda2022_etz_2,\xff\xfe2\ncrossmoda2022_ldn_3,3\n")
    rc, m = evaluate(challenge_data)
    assert rc == 0
    koos_errors = errors_by_case(m)["None"]
    assert "line 3: not UTF-8" in koos_errors
    assert m["case"]["crossmoda2022_etz_1"]["VS_Dice"] > 0.3
    assert m["koos"]["crossmoda2022_etz_1"]["prediction"] == 1
    assert m["koos"]["crossmoda2022_ldn_3"]["prediction"] == 3
    assert "crossmoda2022_etz_2" in m["koos_missing"]  # the bad row is not silently dropped


def test_non_utf8_header_is_a_file_error(challenge_data: dict[str, Path]) -> None:
    (challenge_data["pred"] / "predictions.csv").write_bytes(b"ca\xffse,class\ncrossmoda2022_etz_1,1\n")
    rc, m = evaluate(challenge_data)
    assert rc == 0
    assert "not UTF-8" in errors_by_case(m)["None"]
    assert m["case"]["crossmoda2022_etz_1"]["VS_Dice"] > 0.3


def test_duplicated_class_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_text("case,class,class\ncrossmoda2022_etz_1,1,4\n")
    with pytest.raises(KoosTableError, match="more than once"):
        read_koos_csv(path)
    path.write_text("case,Class,CLASS \ncrossmoda2022_etz_1,1,4\n")
    with pytest.raises(KoosTableError, match="more than once"):
        read_koos_csv(path)


def test_bad_rows_strict_and_collected(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_text("case,class\ncrossmoda2022_etz_1,7\nnot-a-case,1\ncrossmoda2022_etz_2,2\ncrossmoda2022_etz_2,3\n")
    with pytest.raises(KoosTableError, match="line 2"):
        read_koos_csv(path)
    rows: list[str] = []
    table = read_koos_csv(path, row_errors=rows)
    assert table == {"crossmoda2022_etz_2": 2}
    assert [r.split(":")[0] for r in rows] == ["line 2", "line 3", "line 5"]


def test_koos_table_that_is_a_link_or_fifo_is_refused(tmp_path: Path) -> None:
    import os

    secret = tmp_path / "secret"
    secret.write_text("case,class\ncrossmoda2022_etz_1,1\n")
    (tmp_path / "link.csv").symlink_to(secret)
    with pytest.raises(KoosTableError, match="symbolic link"):
        read_koos_csv(tmp_path / "link.csv")
    assert read_koos_csv(tmp_path / "link.csv", untrusted=False) == {"crossmoda2022_etz_1": 1}
    os.mkfifo(tmp_path / "fifo.csv")
    with pytest.raises(KoosTableError, match="FIFO"):
        read_koos_csv(tmp_path / "fifo.csv")
