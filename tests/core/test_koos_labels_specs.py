"""Koos tables, label maps with regions, metric specs and provenance."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crossmoda.core.errors import KoosTableError
from crossmoda.core.koos import parse_grade, read_koos_csv, write_koos_csv
from crossmoda.core.labels import AUX_LABELS, LABELS_2022, LABELS_2023, get_label_map
from crossmoda.core.metrics_spec import METRICS, column_spec
from crossmoda.core.provenance import provenance, write_json_atomic


@pytest.mark.parametrize(("raw", "grade"), [(1, 1), ("4", 4), ("3.0", 3), ("III", 3), (2.0, 2),
                                             ("post-operative-london", None), ("post-operative", None)])
def test_parse_grade(raw: object, grade: int | None) -> None:
    assert parse_grade(raw) == grade


@pytest.mark.parametrize("raw", [0, 5, "V", "", "abc", 2.5, True])
def test_parse_grade_rejects(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_grade(raw)


def test_koos_csv_round_trip(tmp_path: Path) -> None:
    grades = {"crossmoda2022_ldn_10": 4, "crossmoda2022_etz_2": 1, "crossmoda2022_ldn_3": None}
    path = tmp_path / "koos.csv"
    write_koos_csv(path, grades)
    assert path.read_text().splitlines() == [
        "case,class", "crossmoda2022_etz_2,1", "crossmoda2022_ldn_3,post-operative", "crossmoda2022_ldn_10,4"]
    assert read_koos_csv(path) == grades


def test_infos_source_training_and_quoted_csv(tmp_path: Path) -> None:
    infos = tmp_path / "infos.csv"
    infos.write_text("crossmoda_name,center,group,koos\ncrossmoda2021_ldn_1,London,A,3\n"
                     "crossmoda2021_ldn_2,London,A,post-operative-london\n")
    assert read_koos_csv(infos, "crossmoda_name", "koos") == {"crossmoda2021_ldn_1": 3,
                                                               "crossmoda2021_ldn_2": None}
    quoted = tmp_path / "pred.csv"
    quoted.write_text('"case","class"\n"crossmoda2021_ldn_211_hrT2",1\n')
    assert read_koos_csv(quoted) == {"crossmoda2021_ldn_211": 1}


@pytest.mark.parametrize("body", ["case,grade\nx,1\n", "case,class\ncrossmoda2022_ldn_1,7\n",
                                  "case,class\nnot_a_case,1\n",
                                  "case,class\ncrossmoda2022_ldn_1,1\ncrossmoda2022_ldn_1,2\n"])
def test_bad_koos_tables(tmp_path: Path, body: str) -> None:
    path = tmp_path / "k.csv"
    path.write_text(body)
    with pytest.raises(KoosTableError) as info:
        read_koos_csv(path)
    assert info.value.path == path


def test_regions() -> None:
    labels = np.array([0, 1, 2, 3])
    np.testing.assert_array_equal(LABELS_2023.region("VS").mask(labels), [False, True, True, False])
    np.testing.assert_array_equal(LABELS_2022.region("Cochlea").mask(labels), [False, False, True, False])
    assert LABELS_2022.invalid_values(labels) == [3]
    assert get_label_map("crossmoda2021") is LABELS_2022
    assert AUX_LABELS.labels == {1: "brainstem", 2: "cerebellum"}
    assert not set(AUX_LABELS.labels.values()) & set(LABELS_2022.labels.values())


def test_metric_specs_declare_direction() -> None:
    assert column_spec("VS_Dice").higher_is_better
    assert not column_spec("Cochlea_ASSD").higher_is_better
    assert column_spec("Cochlea_ASSD").worst == 350.0
    assert column_spec("VS_ASSDPooled").name == "ASSDPooled"
    assert all(isinstance(m.higher_is_better, bool) for m in METRICS.values())
    with pytest.raises(KeyError):
        column_spec("VS_Volume")


def test_provenance_and_strict_json(tmp_path: Path) -> None:
    p = provenance("test", {"seed": 3, "path": Path("/x")})
    assert p["version"] and p["config"] == {"seed": 3, "path": "/x"}
    out = write_json_atomic(tmp_path / "o.json", {"provenance": p, "v": np.float64(0.5)})
    assert json.loads(out.read_text())["v"] == 0.5
    with pytest.raises(ValueError, match="non-finite"):
        write_json_atomic(tmp_path / "bad.json", {"v": math.nan})
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.parametrize("module", ["crossmoda.core.io", "crossmoda.evaluation", "crossmoda.ranking"])
def test_torch_free_imports(module: str) -> None:
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch was imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_provenance_time_honours_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert provenance("t")["created"] == "2023-11-14T22:13:20+00:00"
    assert "created" not in provenance("t", created=False)
