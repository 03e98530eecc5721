"""The command line as a user runs it: kb, ingest, search, delete, runs, and one-line errors."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import RagtuneError

runner = CliRunner()


def cli(data_dir, *args):
    res = runner.invoke(app, ["--data-dir", str(data_dir), *args], catch_exceptions=True)
    if res.exception and not isinstance(res.exception, SystemExit):
        if isinstance(res.exception, RagtuneError):
            return res
        raise res.exception
    return res


def test_kb_ingest_search_delete_runs(tmp_path, corpus_dir):
    d = tmp_path / "data"
    assert cli(d, "kb", "create", "docs", "-d", "squad paragraphs").exit_code == 0
    res = cli(d, "ingest", str(corpus_dir), "--kb", "docs", "--json")
    rep = json.loads(res.stdout)
    assert res.exit_code == 0 and len(rep["added"]) == 12 and rep["version"] == 1
    res = cli(d, "search", "Which team represented the AFC at Super Bowl 50?", "--kb", "docs", "--json", "-n", "2")
    hits = json.loads(res.stdout)["hits"]
    assert len(hits) == 2 and "Broncos" in " ".join(h["text"] for h in hits)
    assert {"score", "similarity", "source", "chunk_id"} <= set(hits[0])
    for mode in ("dense", "bm25"):
        res = cli(d, "search", "Denver Broncos", "--kb", "docs", "--mode", mode, "--json")
        assert json.loads(res.stdout)["hits"], mode
    src = hits[0]["source"]
    assert cli(d, "delete", "--kb", "docs", "--source", src).exit_code == 0
    info = json.loads(cli(d, "kb", "info", "docs", "--json", "--versions").stdout)
    assert info["version"] == 2 and info["sources"] == 11 and len(info["versions_list"]) == 3
    res = cli(d, "search", "anything", "--kb", "docs", "--as-of", "1", "--json", "-n", "50")
    assert src in {h["source"] for h in json.loads(res.stdout)["hits"]}
    runs = json.loads(cli(d, "runs", "list", "--json").stdout)
    assert [r["kind"] for r in runs][:2] == ["delete", "ingest"] and all(r["status"] == "ok" for r in runs)
    shown = json.loads(cli(d, "runs", "show", runs[-1]["id"]).stdout)
    assert shown["config"]["kb"] == "docs" and "lancedb" in shown["versions"]
    assert cli(d, "kb", "delete", "docs", "--yes").exit_code == 0
    assert json.loads(cli(d, "kb", "list", "--json").stdout) == []


def test_user_errors_raise_ragtune_errors(tmp_path):
    d = tmp_path / "data"
    res = cli(d, "search", "x", "--kb", "missing")
    assert isinstance(res.exception, RagtuneError) and "ragtune kb create missing" in str(res.exception)
    res = cli(d, "--set", "retrieval.top_k=-3", "kb", "list")
    assert isinstance(res.exception, RagtuneError) and "retrieval.top_k" in str(res.exception)


def test_ingest_reports_bad_file_in_one_line(tmp_path, corpus_dir):
    d = tmp_path / "data"
    (corpus_dir / "zero.md").write_text("")
    res = cli(d, "ingest", str(corpus_dir), "--kb", "k", "--create")
    assert res.exit_code == 0
    assert "12 added" in res.stdout and "1 failed" in res.stdout
    skipped = [line for line in res.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "zero.md" in skipped[0]


def test_process_exit_code_and_single_error_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(tmp_path), "ask", "hi",
                           "--mode", "telepathy"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["error: mode 'telepathy' is not allowed; use one of base, rag, ft, ft+rag, raft"]


@pytest.mark.parametrize("cmd", [["--help"], ["kb", "--help"], ["ingest", "--help"], ["ask", "--help"],
                                 ["search", "--help"], ["runs", "--help"]])
def test_help_works(cmd):
    res = runner.invoke(app, cmd)
    assert res.exit_code == 0 and "Usage" in res.stdout


def test_ask_focus_sentences_sets_what_the_focus_reader_keeps(tmp_path, corpus_dir):
    from ragtune.generate.reader import focus_hits
    from ragtune.types import Chunk, Hit

    d = tmp_path / "data"
    cli(d, "kb", "create", "docs")
    cli(d, "ingest", str(corpus_dir), "--kb", "docs")
    q = "Which NFL team represented the AFC at Super Bowl 50?"
    shown = {}
    for n in (1, 3):
        res = cli(d, "ask", q, "--kb", "docs", "--reader", "focus", "--focus-sentences", str(n), "--json",
                  "--max-tokens", "2")
        assert res.exit_code == 0, res.stdout
        shown[n] = json.loads(res.stdout)
    hits = [Hit(Chunk(c["chunk_id"], c["doc_id"], c["source"], c["text"]), c["score"]) for c in shown[3]["retrieved"]]
    for n in (1, 3):
        kept = [h.chunk.text for h in focus_hits(q, hits, n)[0]]
        assert all(t in shown[n]["prompt"] for t in kept)
    assert len(shown[1]["prompt"]) < len(shown[3]["prompt"])
    assert cli(d, "ask", q, "--kb", "docs", "--focus-sentences", "0").exit_code == 2
