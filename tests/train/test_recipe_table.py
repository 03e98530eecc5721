"""The recipe table: built-ins and a third-party recipe are found by name the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import ragtune.train.recipes as table
from ragtune.cli.main import app
from ragtune.errors import ConfigError
from ragtune.train import cpt, raft, sft, synth
from ragtune.train.config import TrainConfig
from ragtune.train.recipes import RECIPES, recipe, register_recipe
from ragtune.train.runner import run_classifier
from ragtune.types import Chunk


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


# --- `ragtune train run NAME`: a third party's recipe through the real command ---------------------

cli_runner = CliRunner()


def _cli(tmp_path, *args):
    return cli_runner.invoke(app, ["--data-dir", str(tmp_path / "data"), "train", *args])


def _recording(fresh_table, name, inputs):
    """Register a real recipe that keeps the arguments it was called with and returns a plain record."""
    calls = []

    @register_recipe(name, inputs=inputs, summary="records its arguments")
    def train(settings, name, cfg, **kwargs):
        calls.append({"name": name, "cfg": cfg, **kwargs})
        return {"name": name, "recipe": "mine", "rows": len(kwargs.get("data") or kwargs.get("chunks") or [])}

    return calls


def test_train_run_gives_a_qa_recipe_its_data_files_and_config(fresh_table, tmp_path):
    calls = _recording(fresh_table, "mine", "qa")
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "Q?", "answer": "A."}\n')
    res = _cli(tmp_path, "run", "mine", "--data", str(data), "--name", "m1", "--lr", "0.001", "--epochs", "2",
               "--no-progress")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"name": "m1", "recipe": "mine", "rows": 1}
    (call,) = calls
    assert call["data"] == [data] and call["val_data"] is None and call["name"] == "m1"
    assert isinstance(call["cfg"], TrainConfig) and (call["cfg"].lr, call["cfg"].epochs) == (0.001, 2)
    assert (call["base"], call["overwrite"], call["progress"]) == (None, False, False)
    assert "chunks" not in call and "text_field" not in call


def test_train_run_gives_a_documents_recipe_the_chunks_of_its_files(fresh_table, tmp_path):
    calls = _recording(fresh_table, "mine-docs", "documents")
    doc = tmp_path / "paris.md"
    doc.write_text("# Paris\n\nParis is the capital of France. It lies on the Seine.\n")
    res = _cli(tmp_path, "run", "mine-docs", str(doc), "--name", "m2")
    assert res.exit_code == 0, res.output
    (call,) = calls
    assert call["chunks"] and all(isinstance(c, Chunk) for c in call["chunks"])
    assert "capital of France" in " ".join(c.text for c in call["chunks"]) and "data" not in call


def test_train_run_gives_a_labels_recipe_its_files_and_columns(fresh_table, tmp_path):
    calls = _recording(fresh_table, "mine-labels", "labels")
    data = tmp_path / "l.jsonl"
    data.write_text('{"review": "great", "stars": "pos"}\n')
    res = _cli(tmp_path, "run", "mine-labels", "-d", str(data), "--name", "m3", "--text-field", "review",
               "--label-field", "stars")
    assert res.exit_code == 0, res.output
    assert (calls[0]["data"], calls[0]["text_field"], calls[0]["label_field"]) == ([data], "review", "stars")


def test_train_run_refuses_unknown_names_built_ins_and_missing_inputs(fresh_table, tmp_path):
    _recording(fresh_table, "mine", "qa")
    res = _cli(tmp_path, "run", "nope", "--name", "m")
    assert isinstance(res.exception, ConfigError) and res.exception.exit_code == 2
    assert str(res.exception).startswith("recipe 'nope' is unknown; use one of 'sft', 'cpt'")
    assert "'mine'" in str(res.exception) and "\n" not in str(res.exception)
    res = _cli(tmp_path, "run", "sft", "--name", "m", "--data", "x.jsonl")
    assert isinstance(res.exception, ConfigError) and "ragtune train sft --help" in str(res.exception)
    res = _cli(tmp_path, "run", "mine", "--name", "m")
    assert isinstance(res.exception, ConfigError) and "pass its file(s) with --data" in str(res.exception)
    res = _cli(tmp_path, "run", "mine", "--name", "m", "--data", "x.jsonl", "--kb", "docs")
    assert isinstance(res.exception, ConfigError) and "--kb and paths are not used" in str(res.exception)


def test_an_unknown_recipe_is_one_line_and_exit_2_from_the_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(tmp_path), "train", "run",
                          "nope", "--name", "m"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: recipe 'nope' is unknown; use one of 'sft', 'cpt', 'synth', 'raft', 'classify'"]


def test_train_help_lists_the_table():
    res = cli_runner.invoke(app, ["train", "--help"], terminal_width=200)
    assert res.exit_code == 0
    for n in ("sft", "cpt", "synth", "raft", "classify"):
        assert f"{n} ({RECIPES[n].inputs}): {RECIPES[n].summary}" in res.output
    assert "run" in res.output


def test_a_package_registers_recipes_through_the_entry_point_group(tmp_path):
    (tmp_path / "my_recipes.py").write_text(
        "from ragtune.train.recipes import register_recipe\n"
        "register_recipe('plugged', lambda **kw: {}, inputs='documents', summary='from a plugin')\n")
    dist = tmp_path / "my_recipes-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-recipes\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ragtune.recipes]\nplugged = my_recipes\n")
    code = ("import ragtune.train.recipes as r; print('plugged' in r.RECIPES); "
            "print(r.recipe('plugged').inputs, r.recipe_names()[-1])")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "documents", "plugged"]  # imported when the table is first read
