from __future__ import annotations

import pytest

from ragtune.config import load_settings
from ragtune.errors import ModelNotFoundError, TrainingError
from ragtune.registry import ModelSpec
from ragtune.train.artifacts import (
    begin_model,
    delete_model,
    finish_model,
    list_models,
    load_model_info,
    record_export,
)


@pytest.fixture()
def settings(tmp_path):
    return load_settings(overrides=[f"data_dir='{tmp_path / 'data'}'"], env={})


def _finish(settings, name, tmp_path):
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF" + b"\0" * 16)
    folder = begin_model(settings, name)
    (folder / "adapter").mkdir()
    (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"x" * 1000)
    (folder / "checkpoints" / "step-0000001").mkdir(parents=True)
    return finish_model(settings, name, recipe="sft", task="generate", weights="lora",
                        base_spec=ModelSpec("b", "gguf", str(base)), metrics={"final_loss": 0.5},
                        config={"lr": 1e-3}, data_sha256="abc", data_files=[str(base)])


def test_finished_models_are_listed_with_their_record(settings, tmp_path):
    info = _finish(settings, "m1", tmp_path)
    assert not (info.folder / "checkpoints").exists()
    assert info.size_bytes == 1000 and info.base_model["fingerprint"]
    again = load_model_info(settings, "m1")
    assert again.to_dict() == info.to_dict()
    assert [m.name for m in list_models(settings)] == ["m1"]


def test_names_are_protected(settings, tmp_path):
    _finish(settings, "m1", tmp_path)
    with pytest.raises(TrainingError, match="already exists.*--overwrite"):
        begin_model(settings, "m1")
    with pytest.raises(TrainingError, match="already finished"):
        begin_model(settings, "m1", resume=True)
    assert not any(begin_model(settings, "m1", overwrite=True).iterdir())
    with pytest.raises(TrainingError, match="invalid model name"):
        begin_model(settings, "../evil")


def test_unfinished_runs_need_resume_or_overwrite(settings):
    folder = begin_model(settings, "half")
    (folder / "checkpoints").mkdir()
    assert list_models(settings) == []
    with pytest.raises(TrainingError, match="unfinished run.*--resume"):
        begin_model(settings, "half")
    assert begin_model(settings, "half", resume=True) == folder
    with pytest.raises(TrainingError, match="nothing to resume"):
        begin_model(settings, "never", resume=True)
    with pytest.raises(ModelNotFoundError, match="unfinished"):
        load_model_info(settings, "half")


def test_exports_and_delete(settings, tmp_path):
    info = _finish(settings, "m1", tmp_path)
    gguf = info.folder / "exports" / "adapter.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"y" * 500)
    updated = record_export(settings, "m1", "gguf-adapter", gguf)
    assert updated.exports == {"gguf-adapter": str(gguf.resolve())} and updated.size_bytes == 1500
    assert delete_model(settings, "m1") > 1500
    with pytest.raises(ModelNotFoundError):
        delete_model(settings, "m1")
    assert list_models(settings) == []
