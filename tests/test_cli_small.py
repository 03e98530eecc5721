"""Small things a new user met on the command line: help without ``<bool>``, what delete leaves behind,
``--json`` on delete and report, and run durations that cover the work."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.runlog import RunLog
from tests.evaluate.conftest import build_qa

runner = CliRunner()


def cli(data_dir: Path, *args: str):
    res = runner.invoke(app, ["--data-dir", str(data_dir), *args])
    assert res.exit_code == 0, (args, res.output, res.exception)
    return res


@pytest.mark.parametrize("cmd", [["--help"], ["compare", "--help"], ["delete", "--help"], ["runs", "list", "--help"],
                                 ["report", "--help"], ["kb", "delete", "--help"]])
def test_help_shows_no_bool_metavar_on_flags(cmd):
    out = runner.invoke(app, cmd, env={"COLUMNS": "160"}).output
    assert "--help" in out and "<bool>" not in out, out


def test_flags_stay_flags_and_value_options_keep_their_type():
    out = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "160"}).output
    quick = next(line for line in out.splitlines() if "--quick" in line)
    config = next(line for line in out.splitlines() if "--config" in line)
    assert "<" not in quick and "<path>" in config


def test_delete_says_the_file_comes_back_and_prints_json(tmp_path, corpus_dir):
    d = tmp_path / "data"
    cli(d, "kb", "create", "docs")
    cli(d, "ingest", str(corpus_dir), "--kb", "docs", "--json")
    first, second, third = sorted(corpus_dir.iterdir())[:3]
    out = cli(d, "delete", "--kb", "docs", "--source", str(first)).output
    note = (f"the file is still in {first.resolve().parent}; the next `ragtune ingest` of that folder adds it "
            "back — delete the file or use --sync")
    assert note in out.splitlines()
    rep = json.loads(cli(d, "delete", "--kb", "docs", "--source", str(second), "--json").stdout)
    assert rep["kb"] == "docs" and rep["removed"] == [str(second.resolve())] and rep["chunks_removed"] >= 1
    assert rep["version"] == 3 and rep["note"].startswith(f"the file is still in {second.resolve().parent};")
    third_src = str(third.resolve())
    third.unlink()  # gone from disk: nothing comes back, so no note
    rep = json.loads(cli(d, "delete", "--kb", "docs", "--source", third_src, "--json").stdout)
    assert rep["removed"] == [third_src] and rep["note"] is None
    # what the note says is true: the next ingest of the folder adds the two files back
    again = json.loads(cli(d, "ingest", str(corpus_dir), "--kb", "docs", "--json").stdout)
    assert sorted(again["added"]) == sorted([str(first.resolve()), str(second.resolve())])


def test_report_json_names_the_files_it_wrote(tmp_path):
    d = tmp_path / "data"
    res = build_qa({"base": 0.1, "rag": 0.5}, n=12)
    with RunLog(d).run("compare", {"name": res.name}, name=res.name) as run:  # as run_comparison records it
        res.run_id = run.id
        out = d / "reports" / run.id
        run.update({"results": str(res.save(out / "results.json"))})
    printed = json.loads(cli(d, "report", run.id[:6], "--json").stdout)  # a prefix of the id is enough
    assert printed["run_id"] == run.id
    assert Path(printed["report"]["html"]) == out / "report.html" and (out / "report.html").stat().st_size > 0
    assert cli(d, "report", run.id).output.strip() == f"report: {out / 'report.html'}"


def _work(seconds: float) -> float:
    """Hash for at least ``seconds``; returns the time it took."""
    t0, block = time.perf_counter(), b"x" * 1_000_000
    while time.perf_counter() - t0 < seconds:
        block = hashlib.sha256(block).digest() * 31_250
    return time.perf_counter() - t0


def test_runs_list_duration_covers_work_done_before_the_record(tmp_path):
    """``ask`` records its run once the answer exists: the duration comes from the answer's own timings."""
    d = tmp_path / "data"
    log = RunLog(d)
    t0 = time.time()
    took = _work(0.3)
    opened = time.time()  # the record opens after the work: its start must be dated back before this
    with log.run("ask", name="after") as run:
        run.update({"text": "...", "timings": {"total_ms": took * 1e3}})
    with log.run("ingest", name="inside") as run:  # work inside the record counts as before
        inside = _work(0.2)
    rows = {r["name"]: r for r in json.loads(cli(d, "runs", "list", "--json").stdout)}
    assert rows["after"]["duration_s"] >= took and t0 - 1 < rows["after"]["started"] < opened
    assert rows["inside"]["duration_s"] >= inside
    table = cli(d, "runs", "list").output
    assert f"{rows['after']['duration_s']:.2f}" in table


@pytest.mark.slow
def test_runs_list_duration_of_a_real_ask(tmp_path):
    from ragtune.config import load_settings
    from ragtune.pipeline import Pipeline

    s = load_settings(env={}, data_dir=str(tmp_path / "data"))
    t0 = time.perf_counter()
    answer = Pipeline(s).ask("What is the capital of France?", mode="base", max_tokens=8)
    wall = time.perf_counter() - t0
    row = RunLog(s.data_dir).list("ask")[0]
    assert row["duration_s"] >= answer.timings["total_ms"] / 1e3 and row["duration_s"] <= wall + 1.0
