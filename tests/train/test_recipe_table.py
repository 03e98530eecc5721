"""The recipe table: built-ins and a third-party recipe are found by name the same way."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ragtune.train.recipes as table
from ragtune.errors import ConfigError
from ragtune.train import cpt, raft, sft, synth
from ragtune.train.recipes import RECIPES, recipe, register_recipe
from ragtune.train.runner import run_classifier


@pytest.fixture
def fresh_table(monkeypatch):
    monkeypatch.setattr(table, "RECIPES", dict(table.RECIPES))
    return table


def test_every_built_in_recipe_loads_its_train_function():
    assert {n: RECIPES[n].load() for n in ("sft", "cpt", "synth", "raft", "classify")} == {
        "sft": sft.train, "cpt": cpt.train, "synth": synth.train, "raft": raft.train, "classify": run_classifier}
    assert [recipe(n).inputs for n in ("sft", "cpt", "synth", "raft", "classify")] == [
        "qa", "documents", "documents", "qa+documents", "labels"]


def test_a_third_party_recipe_is_found_by_name(fresh_table):
    @register_recipe("echo", inputs="qa", summary="returns its inputs")
    def train(settings, data, name, cfg, **options):
        return {"data": data, "name": name, **options}

    assert recipe("echo").load() is train
    assert recipe("echo").load()(None, ["a.jsonl"], "m", None, seed=3) == {"data": ["a.jsonl"], "name": "m", "seed": 3}
    assert recipe("echo").summary == "returns its inputs"


def test_a_third_party_recipe_can_register_by_path(fresh_table):
    register_recipe("sft-again", "ragtune.train.sft:train", inputs="qa")
    assert recipe("sft-again").load() is sft.train
    register_recipe("gone", "ragtune.no_such_module:train", inputs="qa")
    with pytest.raises(ConfigError, match="recipe 'gone': cannot import 'ragtune.no_such_module:train'"):
        recipe("gone").load()


def test_unknown_and_clashing_names_are_one_line(fresh_table):
    with pytest.raises(ConfigError, match=r"recipe 'nope' is unknown; use one of 'sft', 'cpt'"):
        recipe("nope")
    with pytest.raises(ConfigError, match="'sft' is already 'ragtune.train.sft:train'"):
        register_recipe("sft", lambda *a: None, inputs="qa")
    register_recipe("sft", "ragtune.train.sft:train", inputs="qa",
                    summary=RECIPES["sft"].summary)  # the same entry again is no clash
    with pytest.raises(ConfigError, match="inputs 'pictures' is unknown"):
        register_recipe("mine", lambda *a: None, inputs="pictures")
    with pytest.raises(ConfigError, match="is not a recipe name"):
        register_recipe("two words", lambda *a: None, inputs="qa")
    with pytest.raises(ConfigError, match="neither a function nor a 'module:function' path"):
        register_recipe("mine", "just-a-name", inputs="qa")


def test_reading_the_table_does_not_import_torch():
    code = "import sys, ragtune.train.recipes as r; r.recipe('sft'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
