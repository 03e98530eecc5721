"""top_k and the query: None means the default, k < 1 or a blank query is a one-line ConfigError everywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import squad_paragraphs
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import load_settings
from ragtune.errors import ConfigError
from ragtune.kb import KnowledgeBase
from ragtune.pipeline import Pipeline
from ragtune.retrieve.retriever import check_top_k

KB = "five"
QUERY = "Which team won Super Bowl 50?"
BAD_K = [0, -1, -5]
BLANK = ["", "   ", "\n\t "]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A knowledge base of five SQuAD paragraphs, one chunk each."""
    root = tmp_path_factory.mktemp("top-k")
    docs = root / "docs"
    docs.mkdir()
    for r in squad_paragraphs(5):
        (docs / f"{r['id'].replace(':', '_')}.txt").write_text(f"{r['title']}\n\n{r['text']}\n", encoding="utf-8")
    kb = KnowledgeBase.create(load_settings(env={}, data_dir=str(root / "data")), KB)
    kb.ingest([docs], show_progress=False)
    assert kb.store.count() >= 5
    return root / "data"


@pytest.fixture
def kb(data_dir):
    return KnowledgeBase.open(load_settings(env={}, data_dir=str(data_dir)), KB)


def test_check_top_k_rule():
    assert check_top_k(None) is None
    assert check_top_k(1) == 1 and check_top_k(7) == 7
    for bad in (0, -1, True, 2.5, "3"):
        with pytest.raises(ConfigError, match="top_k must be at least 1"):
            check_top_k(bad)


def test_every_hit_carries_its_cosine_with_the_question(kb):
    """Dense hits take it from their score, full-text-only hits from their stored vectors: the same number."""
    q = kb.embedder.embed_query(QUERY)
    for mode in ("hybrid", "bm25", "dense"):
        hits = kb.search(QUERY, k=5, mode=mode)
        want = kb.store.vectors_for([h.chunk.chunk_id for h in hits]) @ q
        assert [h.similarity for h in hits] == pytest.approx(want.tolist(), abs=1e-5), mode


def test_none_means_the_default_and_k_is_honoured(kb):
    default = kb.settings.retrieval.top_k
    assert len(kb.search(QUERY)) == default
    assert len(kb.search(QUERY, k=None)) == default
    assert len(kb.search(QUERY, k=1)) == 1
    assert len(kb.search(QUERY, k=5)) == 5


@pytest.mark.parametrize("k", BAD_K)
def test_api_rejects_k_below_one(kb, k):
    # Before: 0 silently became the default (3 hits) and -1 sliced off the last hit (4 of 5).
    with pytest.raises(ConfigError) as e:
        kb.search(QUERY, k=k)
    msg = str(e.value)
    assert msg == f"top_k must be at least 1 (got {k}); pass --top-k 1 or more" and "\n" not in msg
    with pytest.raises(ConfigError, match="top_k must be at least 1"):
        kb.retriever.search(QUERY, k=k)  # the Retriever itself, for callers that skip the KB


@pytest.mark.parametrize("k", BAD_K)
def test_pipeline_rejects_k_below_one_before_loading_a_model(data_dir, k, monkeypatch):
    import ragtune.pipeline as pl

    def no_model(*a, **kw):
        raise AssertionError("top_k should be checked before the generator is resolved")

    monkeypatch.setattr(pl, "resolve_generator", no_model)
    pipe = Pipeline(load_settings(env={}, data_dir=str(data_dir)), log=False)
    for mode in ("rag", "base"):
        with pytest.raises(ConfigError, match=rf"top_k must be at least 1 \(got {k}\)"):
            pipe.ask(QUERY, mode=mode, kb=KB, top_k=k)


@pytest.mark.parametrize("query", BLANK)
def test_api_rejects_a_blank_query(kb, query):
    with pytest.raises(ConfigError, match="the search query is empty") as e:
        kb.search(query)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="the search query is empty"):
        kb.retriever.search(query)


# ---- the command line -------------------------------------------------------------------------
runner = CliRunner()


def cli(data_dir, *args):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args], catch_exceptions=True)


@pytest.mark.parametrize("k", ["0", "-1"])
def test_cli_search_and_ask_reject_k_below_one(data_dir, k):
    for args in (["search", QUERY, "--kb", KB, "--top-k", k, "--json"],
                 ["search", QUERY, "--kb", KB, "-n", k],
                 ["ask", QUERY, "--kb", KB, "--top-k", k]):
        res = cli(data_dir, *args)
        assert isinstance(res.exception, ConfigError), (args, res.stdout)
        assert str(res.exception) == f"top_k must be at least 1 (got {k}); pass --top-k 1 or more"
    res = cli(data_dir, "search", QUERY, "--kb", KB, "--top-k", "2", "--json")
    assert res.exit_code == 0 and res.stdout.count('"chunk_id"') == 2


@pytest.mark.parametrize("query", BLANK)
def test_cli_search_rejects_a_blank_query(data_dir, query):
    res = cli(data_dir, "search", query, "--kb", KB, "--json")
    assert isinstance(res.exception, ConfigError) and "the search query is empty" in str(res.exception)


def test_process_prints_one_error_line_and_exits_2(data_dir):
    for args, line in ((["search", QUERY, "--kb", KB, "--top-k", "-1"],
                        "error: top_k must be at least 1 (got -1); pass --top-k 1 or more"),
                       (["search", "", "--kb", KB], "error: the search query is empty; search for something")):
        proc = subprocess.run([sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(data_dir), *args],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert [x for x in proc.stderr.splitlines() if x.strip()] == [line]
        assert proc.stdout.strip() == ""
