"""Which model ``crossmoda-algorithm`` runs: ``--model`` > ``$CROSSMODA_MODEL`` > /opt/ml/model
(when it holds a model.json) > ``$CROSSMODA_DEFAULT_MODEL`` (the image's) > the shipped ``adapted``;
shipped names or folders; unknown names refused with the shipped names listed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from crossmoda.algorithm.inference import cli
from crossmoda.algorithm.inference.cli import choose_model, main, resolve_model_dir
from crossmoda.algorithm.model import shipped
from crossmoda.algorithm.model.shipped import SHIPPED_MODELS, model_from, shipped_model_dir
from crossmoda.algorithm.model.spec import ModelError
from crossmoda.core.cli import UsageError
from tests.algorithm.tiny_model import write_tiny_model


@pytest.fixture
def gc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /opt/ml/model (not created), no model variables, a clean working folder."""
    path = tmp_path / "opt-ml-model"
    monkeypatch.setattr(cli, "GC_MODEL_DIR", path)
    monkeypatch.delenv(cli.MODEL_ENV, raising=False)
    monkeypatch.delenv(cli.DEFAULT_MODEL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def _folder(path: Path) -> Path:
    """A folder that counts as a model for the choice (a model.json in it)."""
    path.mkdir(parents=True)
    (path / "model.json").write_text("{}")
    return path


def test_default_is_the_shipped_adapted_model(gc_dir: Path) -> None:
    assert choose_model(None) == cli.ModelChoice(shipped_model_dir("adapted"), "default")
    gc_dir.mkdir()  # the images create an empty /opt/ml/model: not a model
    assert choose_model(None).path == shipped_model_dir("adapted")
    assert resolve_model_dir(None, "no_adaptation") == shipped_model_dir("no_adaptation")


def test_opt_ml_model_beats_the_default_and_the_image_default(
    gc_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cli.DEFAULT_MODEL_ENV, "no_adaptation")
    image_default = cli.ModelChoice(shipped_model_dir("no_adaptation"), "$CROSSMODA_DEFAULT_MODEL")
    assert choose_model(None) == image_default
    _folder(gc_dir)
    assert choose_model(None) == cli.ModelChoice(gc_dir, str(gc_dir))


def test_env_beats_opt_ml_model_and_flag_beats_env(
    gc_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folder(gc_dir)
    env_model, flag_model = _folder(tmp_path / "env-model"), _folder(tmp_path / "flag-model")
    monkeypatch.setenv(cli.MODEL_ENV, str(env_model))
    assert choose_model(None) == cli.ModelChoice(env_model, "$CROSSMODA_MODEL")
    monkeypatch.setenv(cli.MODEL_ENV, "no_adaptation")  # a shipped name
    assert choose_model(None) == cli.ModelChoice(shipped_model_dir("no_adaptation"), "$CROSSMODA_MODEL")
    assert choose_model(flag_model) == cli.ModelChoice(flag_model, "--model")
    assert choose_model("adapted") == cli.ModelChoice(shipped_model_dir("adapted"), "--model")
    monkeypatch.setenv(cli.MODEL_ENV, "  ")  # blank: unset
    assert choose_model(None).path == gc_dir


def test_a_folder_beats_a_shipped_name_of_the_same_spelling(gc_dir: Path, tmp_path: Path) -> None:
    local = _folder(tmp_path / "adapted")  # the working folder is tmp_path
    assert model_from("adapted") == Path("adapted") and Path("adapted").resolve() == local.resolve()


def test_unknown_name_lists_the_shipped_names(gc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"adapted", "no_adaptation", "adapted_2023"} <= set(SHIPPED_MODELS)
    with pytest.raises(UsageError) as info:
        choose_model("adaptd")
    message = str(info.value)
    assert message.startswith("--model: unknown model name 'adaptd'; shipped models: ")
    assert all(name in message for name in SHIPPED_MODELS)
    monkeypatch.setenv(cli.MODEL_ENV, "nnunet")
    with pytest.raises(UsageError, match=r"^\$CROSSMODA_MODEL: unknown model name 'nnunet'"):
        choose_model(None)
    assert choose_model("models/missing").path == Path("models/missing")  # a path: checked on reading


def test_a_listed_shipped_model_not_installed_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipped, "SHIPPED_MODELS_DIR", tmp_path / "models")
    with pytest.raises(ModelError, match="shipped model 'adapted_2023' is not installed"):
        shipped_model_dir("adapted_2023")
    _folder(tmp_path / "models" / "adapted_2023")
    assert shipped_model_dir("adapted_2023") == tmp_path / "models" / "adapted_2023"
    with pytest.raises(ModelError, match="unknown model name '../models/adapted'"):
        shipped_model_dir("../models/adapted")  # only listed names


def test_cli_logs_the_chosen_model_and_its_label_map(
    gc_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = write_tiny_model(tmp_path / "tiny-2023", label_map="crossmoda2023")
    (tmp_path / "in").mkdir()
    monkeypatch.setenv(cli.MODEL_ENV, str(model))
    with caplog.at_level(logging.INFO, logger="crossmoda.algorithm.inference.cli"):
        status = main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--device", "cpu"])
    assert status == 1  # an empty input folder: no case processed
    assert f"model {model} (chosen by $CROSSMODA_MODEL), label map crossmoda2023" in caplog.text
    assert main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--model", "x"]) == 2
    err = capsys.readouterr().err
    assert "--model: unknown model name 'x'; shipped models: adapted, no_adaptation, adapted_2023" in err
