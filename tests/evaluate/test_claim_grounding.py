"""The groundedness claim's verdict follows citation precision and recall, never 'supported' without them."""

from ragtune.evaluate import metrics as M
from ragtune.evaluate.report.claims import response_generation
from ragtune.evaluate.results import ComparisonResults, ItemRecord, RetrievedChunk
from ragtune.evaluate.stats import summarize


def _results(cited: bool, wrong_marker: bool = False) -> ComparisonResults:
    res = ComparisonResults.new("g", task="qa", config={}, seed=0)
    res.add_mode("rag", model="tiny", kb="kb")
    for i in range(20):
        ctx = [f"Fact {i}: the answer {i} is kept here."]
        written = [1] if wrong_marker else []
        sents = [{"text": f"It is answer {i}.", "written": written,
                  "unsupported_markers": written if wrong_marker else [],
                  "citation": 1 if cited else None, "method": "attributed" if cited else ""}]
        scores = M.qa_scores(f"It is answer {i}.", [f"answer {i}"], context_texts=ctx,
                             cited_texts=ctx if cited else [], sentences=sents)
        res.add_item(ItemRecord(item_id=f"q{i}", mode="rag", question="q", references=[f"answer {i}"],
                                prediction=f"It is answer {i}.", retrieved=[RetrievedChunk("c", ctx[0], 1.0)],
                                scores=scores, latency_ms=100.0, sentences=sents))
    return summarize(res, n_resamples=200)


def test_not_supported_when_no_answer_is_grounded():
    claim = response_generation(_results(cited=False))
    assert claim.verdict == "not supported"
    assert any("0.0% (all 20 alike: no interval) of answer sentences carry a supporting citation" in e
               for e in claim.evidence)


def test_supported_when_sentences_carry_supporting_citations():
    assert response_generation(_results(cited=True)).verdict == "supported"


def test_wrong_markers_lower_precision_below_the_rule():
    # every sentence has one wrong model marker and one attribution: precision 50% < 80%
    assert response_generation(_results(cited=True, wrong_marker=True)).verdict == "partly supported"


def test_report_marks_the_supporting_span_and_escapes_it():
    from ragtune.evaluate.report.html import _marked

    text = "Denver <won> the game. Von Miller was MVP."
    assert _marked(text, [[0, 22]]) == "<mark>Denver &lt;won&gt; the game.</mark> Von Miller was MVP."
    assert _marked(text, []) == "Denver &lt;won&gt; the game. Von Miller was MVP."
