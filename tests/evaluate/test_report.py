"""report.html is well-formed, self-contained, escaped, and has every section; results round-trip."""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser

import pytest
from rich.console import Console

from ragtune.errors import DataError, EngineError
from ragtune.evaluate import metrics as M
from ragtune.evaluate.report import print_summary, render_report
from ragtune.evaluate.results import ComparisonResults, Estimate, ItemRecord, ModeInfo, mode_family
from ragtune.evaluate.stats import add_context_reliance, summarize

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
QA_SECTIONS = {"summary", "recommendation", "accuracy", "latency", "costs", "freshness", "retrieval",
               "key-differences", "answers", "glossary"}
CLAIM_IDS = {f"claim-{k}" for k in ("knowledge-source", "updateability", "setup-complexity",
                                    "response-generation", "task-performance", "model-size")}


class TagChecker(HTMLParser):
    """Records ids, and every mismatched or unclosed non-void tag."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: set[str] = set()
        self.section_text: dict[str, list[str]] = {}
        self.attrs: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        self.attrs.append((tag, d))
        if "id" in d:
            self.ids.add(d["id"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()


def parse(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    return checker


def assert_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert not re.search(r"<link\b", page, re.I)
    assert "@import" not in page and "url(" not in page
    checker = parse(page)
    for tag, attrs in checker.attrs:
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")


def test_qa_report_has_every_section_and_is_well_formed(qa_results, tmp_path):
    paths = render_report(qa_results, tmp_path, sample_size=100)
    assert set(paths) == {"html", "json", "markdown"}
    page = paths["html"].read_text(encoding="utf-8")
    checker = parse(page)
    assert checker.errors == []
    assert checker.stack == []
    assert QA_SECTIONS <= checker.ids
    assert CLAIM_IDS <= checker.ids
    assert "confusion" not in checker.ids  # QA has no confusion matrix
    assert page.count("data:image/png;base64,") == 4  # accuracy, latency, costs, freshness
    assert_self_contained(page)


def test_hostile_text_is_escaped(qa_results, tmp_path):
    page = render_report(qa_results, tmp_path, sample_size=100)["html"].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt;" in page
    assert "evil.example" in page  # the text is kept, only the URL scheme separator is an entity
    assert "https:&#47;&#47;cdn.example.com" in page


def test_report_numbers_come_from_the_results(qa_results, tmp_path):
    page = render_report(qa_results, tmp_path)["html"].read_text(encoding="utf-8")
    f1 = qa_results.metric("rag/top1", "token_f1")
    assert f"{100 * f1.value:.1f}" in page
    assert f"[{100 * f1.lo:.1f}, {100 * f1.hi:.1f}]" in page
    rec = qa_results.recommendation
    assert rec is not None and rec["choice"] in page
    for reason in rec["reasons"]:
        assert reason.replace("'", "&#x27;") in page


def test_classification_report(cls_results, tmp_path):
    paths = render_report(cls_results, tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    checker = parse(page)
    assert checker.errors == [] and checker.stack == []
    assert {"summary", "recommendation", "accuracy", "latency", "costs", "confusion", "key-differences",
            "answers"} <= checker.ids
    assert "freshness" not in checker.ids and "retrieval" not in checker.ids
    assert "(invalid)" in page  # an invalid generation shows as its own column
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert_self_contained(page)


def test_markdown_and_json_written(qa_results, tmp_path):
    paths = render_report(qa_results, tmp_path)
    md = paths["markdown"].read_text(encoding="utf-8")
    assert md.startswith("# ragtune comparison: synthetic-qa")
    for mode in qa_results.mode_names:
        assert f"| {mode} |" in md
    assert "## Recommendation: " in md and "## Key differences" in md
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["recommendation"]["choice"] in ("rag", "fine-tuning", "both", "base")
    assert len(data["items"]) == len(qa_results.items)


def test_results_round_trip(qa_results, cls_results, tmp_path):
    for res in (qa_results, cls_results):
        path = res.save(tmp_path / f"{res.task}.json")
        again = ComparisonResults.load(path)
        assert again.to_dict() == res.to_dict()
        assert again.metric("ft", res.primary_metric) == res.metric("ft", res.primary_metric)
    again = ComparisonResults.load(tmp_path / "qa.json")
    first_rag = again.items_for("rag")[0]
    assert first_rag.retrieved[0] == qa_results.items_for("rag")[0].retrieved[0]
    assert first_rag.citations[0].number == 1
    assert again.freshness[0].new_after == qa_results.freshness[0].new_after
    assert again.retrieval[0].metrics["recall@1"] == qa_results.retrieval[0].metrics["recall@1"]


def test_results_loading_errors(tmp_path):
    with pytest.raises(DataError, match="no results file"):
        ComparisonResults.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="not a valid"):
        ComparisonResults.load(bad)
    with pytest.raises(DataError, match="task kind"):
        ComparisonResults.new("x", task="summarisation")
    with pytest.raises(DataError, match="family"):
        ModeInfo("mystery")
    assert mode_family("rag/few-shot") == "rag" and mode_family("raft") == "both"
    assert mode_family("zero-shot") == "base" and mode_family("ft") == "fine-tuning"


def test_summarize_classification_matches_metrics(cls_results):
    items = cls_results.items_for("zero-shot")
    y_true = [it.references[0] for it in items]
    y_pred = [it.prediction for it in items]
    labels = cls_results.labels()
    assert "(invalid)" not in labels
    assert cls_results.metric("zero-shot", "accuracy").value == pytest.approx(M.accuracy(y_true, y_pred))
    # macro-F1 averages the three classes; the invalid prediction only counts as an error
    per = M.per_class_f1(y_true, y_pred, labels + ["(invalid)"])
    expected = sum(per[label] for label in labels) / 3
    assert cls_results.metric("zero-shot", "macro_f1").value == pytest.approx(expected)
    detail = cls_results.classification["zero-shot"]
    assert detail.labels[-1] == "(invalid)"
    assert sum(map(sum, detail.matrix)) == len(items)


def test_summarize_qa_latency_and_nan_free_json(qa_results):
    lat = qa_results.metric("rag", "latency_p50_ms")
    values = [it.latency_ms for it in qa_results.items_for("rag")]
    assert lat.value == pytest.approx(M.latency_summary(values)["p50"])
    assert lat.has_ci
    qa_results.set_metric("rag", "odd", Estimate(float("nan")))
    assert json.loads(qa_results.to_json())["metrics"]["rag"]["odd"]["value"] is None


def test_print_summary_in_terminal(qa_results):
    console = Console(record=True, width=200, color_system=None)
    print_summary(qa_results, console)
    text = console.export_text()
    for mode in qa_results.mode_names:
        assert mode in text
    assert f"{100 * qa_results.metric('rag', 'token_f1').value:.1f}" in text


def test_missing_matplotlib_names_the_extra(qa_results, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(EngineError, match=r"ragtune\[report\]"):
        render_report(qa_results, tmp_path)


def test_item_from_answer_keeps_the_trace():
    from ragtune.types import Answer, Chunk, Citation, Hit

    chunk = Chunk(chunk_id="c1", doc_id="d1", source="faq.md", text="Debian is a free OS.")
    answer = Answer(text="A free OS [1].", mode="rag", question="What is Debian?", prompt="P",
                    citations=[Citation(1, "c1", "d1", "faq.md", "Debian is a free OS.", 0.8)],
                    hits=[Hit(chunk, 0.8)], model="smollm2", kb="faq", kb_version=3,
                    timings={"total_ms": 812.5, "decode_tok_s": 120.0},
                    usage={"prompt_tokens": 50, "completion_tokens": 6})
    rec = ItemRecord.from_answer(answer, "q1", ["a free operating system"], gold_ids=["d1"])
    assert rec.latency_ms == 812.5 and rec.tokens["prompt_tokens"] == 50
    assert rec.retrieved[0].chunk_id == "c1" and rec.citations[0].source == "faq.md"
    assert rec.extra["kb_version"] == 3 and rec.extra["model"] == "smollm2"
    res = ComparisonResults.new("t", task="qa")
    res.add_item(rec)
    summarize(res, n_resamples=50)
    assert res.costs["rag"].tokens_per_s == 120.0  # filled from the engine timings


def test_context_reliance_from_closed_book_counterpart():
    res = ComparisonResults.new("t", task="qa")
    for i, (with_ctx, closed) in enumerate([("Paris [1]", "Paris"), ("Lyon", "I do not know")]):
        res.add_item(ItemRecord(f"q{i}", "base", "q", ["Paris"], closed))
        res.add_item(ItemRecord(f"q{i}", "rag", "q", ["Paris"], with_ctx))
    assert add_context_reliance(res) == 2
    assert [it.scores["answer_changed"] for it in res.items_for("rag")] == [0.0, 1.0]
    summarize(res, n_resamples=50)
    assert res.metric("rag", "answer_changed").value == 0.5
    assert res.metric("base", "answer_changed") is None
