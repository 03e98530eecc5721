"""``ragtune report RUN_ID --ragas PATH``: every answer of a comparison as a JSONL dataset with RAGAS's columns."""

from __future__ import annotations

import json

import pytest
from tests.evaluate.conftest import build_cls, build_qa
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import DataError
from ragtune.evaluate.export_ragas import COLUMNS, ragas_rows, write_ragas
from ragtune.runlog import RunLog


def _saved_run(data_dir, res):
    """A finished comparison as run_comparison records it: a run-log row pointing at its results.json."""
    with RunLog(data_dir).run("compare", {"name": res.name}, name=res.name) as run:
        res.run_id = run.id
        run.update({"results": str(res.save(data_dir / "reports" / run.id / "results.json"))})
    return run.id


def test_one_row_per_mode_and_question_with_ragas_columns(tmp_path):
    res = build_qa({"base": 0.2, "rag": 0.7, "raft": 0.8}, n=5)
    res.items[0].references = ["answer 0", "the answer 0"]  # a second gold answer
    n = write_ragas(res, tmp_path / "out" / "answers.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert n == len(rows) == 15 and all(tuple(r) == COLUMNS for r in rows)
    assert {(r["mode"], r["id"]) for r in rows} == {(m, f"q{i:03d}") for m in ("base", "rag", "raft") for i in range(5)}
    by = {(r["mode"], r["id"]): r for r in rows}
    for it in res.items:
        r = by[(it.mode, it.item_id)]
        assert r["question"] == it.question and r["ground_truth"] == it.references[0]
        assert r["ground_truths"] == it.references
        assert r["contexts"] == [c.text for c in it.retrieved]
    assert by[("base", "q001")]["contexts"] == []  # closed-book: nothing retrieved
    assert by[("rag", "q001")]["contexts"] == ["Fact 1: the answer 1 is kept here.", "An unrelated passage."]
    assert by[("base", "q000")]["ground_truths"] == ["answer 0", "the answer 0"]
    right = next(it for it in res.items if it.mode == "rag" and "[1]" in it.prediction)
    assert right.prediction == f"It is answer {int(right.item_id[1:])} [1]."
    assert by[("rag", right.item_id)]["answer"] == f"It is answer {int(right.item_id[1:])}."  # no citation marks


def test_a_classification_run_is_refused_in_one_line():
    with pytest.raises(DataError, match=r"^run \w+ is a classification comparison; --ragas exports"):
        ragas_rows(build_cls({"zero-shot": 0.5}, n=6))


def test_report_ragas_from_the_command_line(tmp_path):
    d = tmp_path / "data"
    run_id = _saved_run(d, build_qa({"base": 0.1, "rag": 0.5}, n=4))
    out = tmp_path / "answers.jsonl"
    res = CliRunner().invoke(app, ["--data-dir", str(d), "report", run_id[:6], "--ragas", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"ragas: 8 answers (2 modes) in {out}"
    assert len(out.read_text().splitlines()) == 8 and not (d / "reports" / run_id / "report.html").exists()
    res = CliRunner().invoke(app, ["--data-dir", str(d), "report", run_id, "--ragas", str(out), "--json"])
    assert json.loads(res.output) == {"run_id": run_id, "ragas": str(out), "rows": 8, "modes": ["base", "rag"]}


def test_the_file_loads_as_an_arrow_table(tmp_path):
    """``datasets.load_dataset("json", ...)`` reads JSON lines with pyarrow's reader; the same reader (a
    dependency of ragtune) must give one typed column per field, contexts as lists of strings."""
    from pyarrow import json as pj

    write_ragas(build_qa({"base": 0.2, "rag": 0.7}, n=3), tmp_path / "a.jsonl")
    table = pj.read_json(tmp_path / "a.jsonl")
    assert table.num_rows == 6 and set(COLUMNS) <= set(table.column_names)
    rows = table.to_pylist()
    rag = [r for r in rows if r["mode"] == "rag"]
    assert len(rag) == 3 and all(len(r["contexts"]) == 2 and all(isinstance(c, str) for c in r["contexts"])
                                 for r in rag)
    assert str(table.schema.field("contexts").type) == "list<item: string>"
