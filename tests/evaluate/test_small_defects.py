"""The smaller defects of issue 10 (item 9), each pinned by a test."""

from __future__ import annotations

from rich.console import Console
from tests.evaluate.conftest import build_cls, build_qa

from ragtune.evaluate import metrics as M
from ragtune.evaluate.report import render_report
from ragtune.evaluate.report.claims import key_differences
from ragtune.evaluate.report.html import render_html
from ragtune.evaluate.report.terminal import print_summary, terminal_metrics

QA_WORDS = ("knowledge stored in the weights", "put the knowledge into the weights",
            "keeps the knowledge inside the model")


def test_the_terminal_table_always_shows_the_primary_metric():
    res = build_qa({"base": 0.2, "rag": 0.6}, n=20)
    for it in res.items:
        it.scores["semantic_similarity"] = 0.5
    from ragtune.evaluate.stats import summarize

    summarize(res, n_resamples=50)
    res.primary_metric = "semantic_similarity"  # not one of TERMINAL_METRICS
    assert terminal_metrics(res)[0] == "semantic_similarity"
    console = Console(record=True, width=300)
    print_summary(res, console)
    header = console.export_text().splitlines()
    assert any("Semantic sim." in line and "F1" in line for line in header)


def test_a_reworded_answer_is_not_a_changed_answer():
    # Plain string inequality called every reworded sentence a change, so free-text runs read 100.0 [100, 100].
    assert not M.answer_changed("8", "The answer is 8.").changed
    assert not M.answer_changed("Luke Kuechly registered 10 tackles.", "10 tackles").changed
    assert M.answer_changed("Luke Kuechly registered 11 tackles.", "Luke Kuechly registered 10 tackles.").changed
    assert M.answer_changed("Paris", "I do not know.").changed
    assert not M.answer_changed("", "").changed


def test_a_merged_float_folder_is_not_compared_with_a_quantised_base(tmp_path):
    res = build_qa({"base": 0.2, "ft": 0.5}, n=20)
    res.set_costs("ft", base_model_bytes=94_000_000, merged_float_bytes=516_000_000)
    claims = key_differences(res)
    size = next(c for c in claims if c.key == "model-size")
    assert not any("merged" in e for e in size.evidence)  # no "550% of the base model"
    assert "% of the base model" in " ".join(size.evidence)  # the adapter still compares, like with like
    page = render_report(res, tmp_path)["html"].read_text(encoding="utf-8")
    assert "(float folder; the base column is the quantised file)" in page


def test_the_classification_report_speaks_of_labels_not_knowledge(tmp_path):
    res = build_cls({"zero-shot": 0.5, "rag": 0.5, "ft": 0.5})
    md = render_report(res, tmp_path)["markdown"].read_text(encoding="utf-8")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    for words in QA_WORDS:
        assert words not in md and words not in html
    assert "labelled examples retrieved into the prompt" in md
    assert "Trained classifier: " in md and "Weights: " not in md
    # The QA report keeps the debate's own words.
    qa = build_qa({"base": 0.2, "rag": 0.2, "ft": 0.2}, n=20)
    assert "knowledge stored in the weights" in render_html(qa, _rec(qa), key_differences(qa))


def _rec(res):
    from ragtune.evaluate.recommend import recommend

    return recommend(res)
