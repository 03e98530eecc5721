"""The engine table: a third-party engine registers like the built-ins and is found by name."""

from __future__ import annotations

import pytest

import ragtune.generate.registry as table
from ragtune.config import load_settings
from ragtune.errors import ConfigError, EngineError
from ragtune.generate import ENGINES, Generation, GenParams, clear_engines, get_engine, register_engine
from ragtune.generate.hf import TransformersEngine
from ragtune.generate.http import HttpEngine
from ragtune.generate.llamacpp import LlamaCppEngine
from ragtune.registry import ModelSpec


@pytest.fixture
def fresh_table(monkeypatch):
    """The real table with the built-ins, restored after the test (and no engine cached across tests)."""
    monkeypatch.setattr(table, "ENGINES", dict(table.ENGINES))
    monkeypatch.setattr(table, "AUTO", dict(table.AUTO))
    clear_engines()
    yield table
    clear_engines()


class EchoEngine:
    """A third-party engine: echoes the last user message."""

    name = "echo"

    def __init__(self, spec, settings, adapter=None):
        self.spec, self.adapter = spec, adapter

    def render(self, messages):
        return messages[-1]["content"]

    def generate(self, messages, params):
        return Generation(self.render(messages)[: params.max_tokens])

    def stream(self, messages, params):
        yield self.generate(messages, params)


def test_the_built_ins_are_in_the_table():
    assert ENGINES["llama.cpp"] is LlamaCppEngine
    assert ENGINES["transformers"] is TransformersEngine
    assert ENGINES["http"] is HttpEngine
    assert table.auto_engine("gguf") == "llama.cpp" and table.auto_engine("hf") == "transformers"
    assert table.auto_engine("http") == "http" and table.auto_engine("sentence-transformers") is None


def test_a_third_party_engine_is_found_by_name(fresh_table):
    register_engine("echo")(EchoEngine)
    s = load_settings(env={}, overrides=["generation.engine=echo"])
    spec = ModelSpec("any", "gguf", "/nowhere/model.gguf")
    engine = get_engine(spec, s.generation, adapter="/an/adapter")
    assert isinstance(engine, EchoEngine) and engine.adapter == "/an/adapter"
    assert engine.generate([{"role": "user", "content": "hello there"}], GenParams(max_tokens=5)).text == "hello"
    assert get_engine(spec, s.generation, adapter="/an/adapter") is engine  # one per model and process


def test_auto_picks_the_engine_registered_for_a_model_kind(fresh_table):
    register_engine("echo", auto_for=("echo-kind",))(EchoEngine)
    engine = get_engine(ModelSpec("mine", "echo-kind"), load_settings(env={}).generation)
    assert isinstance(engine, EchoEngine)


def test_an_unknown_engine_name_is_one_line_naming_the_known_ones(fresh_table):
    s = load_settings(env={}, overrides=["generation.engine=nope"])
    with pytest.raises(ConfigError, match=r"'nope' is not a known engine; use 'auto' or one of .*'llama.cpp'"):
        get_engine(ModelSpec("m", "gguf", "/x.gguf"), s.generation)


def test_a_taken_name_is_refused_unless_replaced(fresh_table):
    with pytest.raises(ConfigError, match="already ragtune.generate.llamacpp.LlamaCppEngine"):
        register_engine("llama.cpp")(EchoEngine)
    with pytest.raises(ConfigError, match="already picks 'llama.cpp' for gguf"):
        register_engine("echo", auto_for=("gguf",))(EchoEngine)
    assert "echo" not in table.ENGINES  # a refused registration leaves the table as it was
    register_engine("llama.cpp", EchoEngine, replace=True)
    assert table.engine_class("llama.cpp") is EchoEngine


@pytest.mark.parametrize("name", ["", "two words", "auto", 3])
def test_bad_engine_names_are_refused(fresh_table, name):
    with pytest.raises(ConfigError, match="is not an engine name"):
        register_engine(name)


def test_built_in_engines_refuse_what_they_cannot_load(fresh_table):
    s = load_settings(env={}, overrides=["generation.engine=llama.cpp"])
    with pytest.raises(ConfigError, match="needs a .gguf model, not hf 'folder'"):
        get_engine(ModelSpec("folder", "hf", "/x"), s.generation)
    http = ModelSpec("remote", "http", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(EngineError, match="cannot load a local adapter"):
        get_engine(http, load_settings(env={}).generation, adapter="/an/adapter")
