"""The shipped reader adapter: chosen only where it fits, a real llama.cpp LoRA, and used by rag."""

from __future__ import annotations

import json

import gguf
import pytest

from ragtune.errors import ConfigError
from ragtune.generate.reader_adapter import DATA_DIR, MANIFEST, adapter_setting, choose_reader_adapter, shipped
from ragtune.registry import ModelSpec, resolve


@pytest.fixture(scope="module")
def bundled() -> ModelSpec:
    return resolve("smollm2-135m-instruct")


def test_the_package_ships_a_reader_for_the_bundled_model(bundled):
    adapters = shipped()
    assert [a.name for a in adapters] == ["smollm2-135m-reader"]
    a = adapters[0]
    assert (a.method, a.focus_sentences) == ("focus", 1)  # the prompt it answers from, from the manifest
    assert a.fits(bundled), "the manifest's base fingerprint no longer matches the bundled GGUF; retrain the reader"
    r = gguf.GGUFReader(str(a.path))
    fields = {k: r.fields[k] for k in ("general.type", "adapter.type")}
    assert [bytes(f.parts[f.data[0]]).decode() for f in fields.values()] == ["adapter", "lora"]
    names = [t.name for t in r.tensors]
    assert len(names) > 0 and all(n.endswith((".lora_a", ".lora_b")) for n in names)
    assert a.path.stat().st_size < 8 * 2**20  # small enough to ship inside the wheel
    manifest = json.loads((DATA_DIR / MANIFEST).read_text())
    assert "CC BY-SA 4.0" in manifest["adapters"][0]["data_licence"]


def test_auto_applies_only_to_the_model_and_engine_it_was_trained_for(bundled, tmp_path):
    assert choose_reader_adapter("auto", bundled, "llama.cpp").name == "smollm2-135m-reader"
    assert choose_reader_adapter("none", bundled, "llama.cpp") is None
    assert choose_reader_adapter("auto", bundled, "transformers") is None  # a GGUF LoRA needs llama.cpp
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + b"\0" * 64)  # another GGUF model: a different fingerprint
    assert choose_reader_adapter("auto", ModelSpec("mine", "gguf", str(other)), "llama.cpp") is None
    http = ModelSpec("fleet", "http", base_url="http://127.0.0.1:1/v1", model="m")
    assert choose_reader_adapter("auto", http, "http") is None


def test_an_adapter_path_is_checked(bundled, tmp_path):
    with pytest.raises(ConfigError, match="is not a file"):
        choose_reader_adapter(str(tmp_path / "missing.gguf"), bundled, "llama.cpp")
    mine = shipped()[0].path
    assert choose_reader_adapter(str(mine), bundled, "llama.cpp").path == mine
    with pytest.raises(ConfigError, match="needs the llama.cpp engine"):
        choose_reader_adapter(str(mine), bundled, "transformers")


def test_a_reader_asked_for_by_name_reads_without_the_adapter_unless_one_is_asked_too():
    """An adapter reads only the prompt it was trained on: ``--reader focus|plain`` (and the rag/focus,
    rag/whole variants) must measure that reader on the base model, not the adapter."""
    assert adapter_setting("auto", None, None) == "auto"
    assert adapter_setting("auto", "plain", None) == "none"
    assert adapter_setting("auto", "focus", None) == "none"
    assert adapter_setting("auto", "focus", "auto") == "auto"  # both asked: the caller gets what it asked
    assert adapter_setting("none", None, "auto") == "auto"


def test_a_users_adapter_reads_the_prompt_its_manifest_names(bundled, tmp_path):
    """``ragtune train raft --reader focus`` records its reader beside the exported GGUF; ``rag`` must then
    send the focused prompt the adapter was trained on, and a bare file reads the plain prompt."""
    mine = tmp_path / "reader-focus3.gguf"
    mine.write_bytes(shipped()[0].path.read_bytes())
    bare = choose_reader_adapter(str(mine), bundled, "llama.cpp")
    assert (bare.method, bare.base_fingerprint) == ("plain", None)
    mine.with_suffix(".json").write_text(json.dumps({"reader": {"method": "focus", "focus_sentences": 3}}))
    focused = choose_reader_adapter(str(mine), bundled, "llama.cpp")
    assert (focused.name, focused.method, focused.focus_sentences) == ("reader-focus3", "focus", 3)
