"""Metrics against hand-computed cases and the official SQuAD v1.1 script's behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragtune.errors import DataError, RagtuneError
from ragtune.evaluate import metrics as M

# --- SQuAD normalisation, EM and F1 -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Eiffel-Tower!", "eiffeltower"),  # punctuation is deleted, not replaced by a space
        ("eiffel tower", "eiffel tower"),
        ("  A Tale of Two Cities. ", "tale of two cities"),
        ("an apple, the pear and a fig", "apple pear and fig"),
        ("Theatre anthem", "theatre anthem"),  # articles only as whole words
        ("U.S.A.", "usa"),
        ("", ""),
    ],
)
def test_normalize_answer_follows_squad(text, expected):
    assert M.normalize_answer(text) == expected


def test_eiffel_tower_case_matches_official_script():
    # The official script deletes the hyphen, so "eiffeltower" shares no token with "eiffel tower".
    assert M.exact_match("The  Eiffel-Tower!", ["eiffel tower"]) == 0.0
    assert M.token_f1("The  Eiffel-Tower!", ["eiffel tower"]) == 0.0
    assert M.exact_match("The  Eiffel Tower!", ["eiffel tower"]) == 1.0


def test_squad_known_cases_by_hand():
    # 1. Articles and punctuation vanish: exact match.
    assert M.exact_match("The Denver Broncos.", ["Denver Broncos"]) == 1.0
    # 2. Partial overlap: pred {denver, broncos, won} vs gold {denver, broncos}: P=2/3, R=1 -> F1=0.8.
    assert M.token_f1("Denver Broncos won", ["Denver Broncos"]) == pytest.approx(0.8)
    # 3. Max over golds: the second gold matches exactly.
    assert M.exact_match("Santa Clara", ["Levi's Stadium", "Santa Clara, California", "santa clara"]) == 1.0
    assert M.token_f1("Santa Clara", ["Levi's Stadium", "Santa Clara, California"]) == pytest.approx(0.8)
    # 4. Repeated tokens are counted as a multiset: pred "the the cat cat" -> [cat, cat]; gold [cat]:
    #    common 1, P=1/2, R=1 -> F1=2/3.
    assert M.token_f1("the the cat cat", ["a cat"]) == pytest.approx(2 / 3)
    # 5. Empty prediction: EM 1 against an article-only gold (both normalise to ""), F1 0 as in v1.1.
    assert M.exact_match("", ["the"]) == 1.0
    assert M.token_f1("", ["the"]) == 0.0
    # 6. Case and whitespace never matter.
    assert M.exact_match("  BEYONCÉ\tKnowles ", ["Beyoncé knowles"]) == 1.0


def test_squad_corpus_average_matches_script_formula():
    preds = ["Denver Broncos", "Carolina", "the 50th Super Bowl"]
    golds = [["Denver Broncos"], ["Carolina Panthers"], ["Super Bowl 50"]]
    em = 100 * sum(M.exact_match(p, g) for p, g in zip(preds, golds, strict=True)) / 3
    f1 = 100 * sum(M.token_f1(p, g) for p, g in zip(preds, golds, strict=True)) / 3
    # by hand: EM 1,0,0 -> 33.33; F1 1, 2/3 (P=1,R=1/2), 2/3 ({50th,super,bowl} vs {super,bowl,50}: 2 common)
    assert em == pytest.approx(100 / 3)
    assert f1 == pytest.approx(100 * (1 + 2 / 3 + 2 / 3) / 3)


def test_golds_must_be_a_nonempty_list():
    with pytest.raises(DataError):
        M.exact_match("x", [])
    with pytest.raises(DataError):
        M.token_f1("x", "Paris")  # a bare string would be scored per character
    assert issubclass(DataError, RagtuneError)


def test_answer_recall_whole_tokens_after_normalisation():
    assert M.answer_recall("I think it is the Eiffel Tower, in Paris.", ["eiffel tower"]) == 1.0
    assert M.answer_recall("Parisian food", ["Paris"]) == 0.0
    assert M.answer_recall("It was in 1889.", ["1888", "1889"]) == 1.0
    assert M.answer_recall("anything", ["the"]) == 0.0  # gold normalising to nothing never matches


def test_semantic_similarity_cosine_max_over_golds():
    assert M.semantic_similarity([1, 0], [[0, 1], [1, 1]]) == pytest.approx(1 / math.sqrt(2))
    assert M.semantic_similarity([2, 0], [4, 0]) == pytest.approx(1.0)
    assert M.semantic_similarity([0, 0], [[1, 0]]) == 0.0
    assert M.semantic_similarity(np.array([1.0, 0.0]), np.array([[-1.0, 0.0]])) == pytest.approx(-1.0)
    with pytest.raises(DataError):
        M.semantic_similarity([1, 0, 0], [[1, 0]])


# --- groundedness ------------------------------------------------------------------------------


def test_supported_token_share_ignores_stop_words():
    # content tokens of the answer: [tower, built, 1889, gustave] -> 3 of 4 in the context
    answer = "The tower was built in 1889 by Gustave"
    context = ["Construction of the tower finished in 1889.", "It was built for the World's Fair."]
    assert M.supported_token_share(answer, context) == pytest.approx(3 / 4)
    assert M.supported_token_share("It is the", context) is None
    assert M.supported_token_share("Mars", []) == 0.0


def test_citation_contains_gold():
    assert M.citation_contains_gold(["The tower is in Paris, France."], ["Paris"]) == 1.0
    assert M.citation_contains_gold(["Lyon is a city."], ["Paris"]) == 0.0
    assert M.citation_contains_gold([], ["Paris"]) == 0.0


def test_answer_changed_and_overlap():
    same = M.answer_changed("The Eiffel Tower.", "eiffel tower")
    assert same == (False, 1.0)
    more = M.answer_changed("Paris, France", "Paris")  # the same answer with more words: not a change
    assert more.changed is False
    assert more.overlap_f1 == pytest.approx(2 / 3)  # P=1/2, R=1
    diff = M.answer_changed("Lyon, France", "Paris")
    assert diff.changed is True and diff.overlap_f1 == 0.0
    assert M.answer_changed("", "the").changed is False


def test_qa_scores_leaves_out_what_does_not_apply():
    closed = M.qa_scores("Paris", ["Paris"])
    assert closed == {"exact_match": 1.0, "token_f1": 1.0, "answer_recall": 1.0}
    rag = M.qa_scores("Paris [1]", ["Paris"], context_texts=["Paris is the capital."],
                      cited_texts=["Paris is the capital."], answer_without_context="Lyon")
    assert rag["supported_token_share"] == 1.0
    assert rag["context_has_gold"] == 1.0 and rag["citation_contains_gold"] == 1.0
    assert rag["answer_changed"] == 1.0 and rag["no_context_overlap_f1"] == 0.0


# --- retrieval ---------------------------------------------------------------------------------


def test_recall_mrr_ndcg_by_hand():
    ranked = ["d3", "d1", "d7", "d2"]
    assert M.recall_at_k(ranked, ["d1"], 1) == 0.0
    assert M.recall_at_k(ranked, ["d1"], 2) == 1.0
    assert M.recall_at_k(ranked, ["d1", "d2"], 3) == 0.5
    assert M.mrr_at_k(ranked, ["d1", "d2"], 10) == 0.5
    assert M.mrr_at_k(ranked, ["d9"], 10) == 0.0
    assert M.mrr_at_k(ranked, ["d2"], 3) == 0.0
    # gold at rank 2: DCG = 1/log2(3), ideal = 1
    assert M.ndcg_at_k(ranked, ["d1"], 10) == pytest.approx(1 / math.log2(3))
    # golds at ranks 2 and 4: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at_k(ranked, ["d1", "d2"], 10) == pytest.approx(expected)
    assert M.ndcg_at_k(["d1"], ["d1"], 10) == 1.0


def test_repeated_ids_count_once():
    ranked = ["d1", "d1", "d1"]  # three chunks of the same document
    assert M.ndcg_at_k(ranked, ["d1"], 3) == 1.0
    assert M.recall_at_k(ranked, ["d1", "d2"], 3) == 0.5


def test_retrieval_rejects_empty_gold_and_bad_k():
    with pytest.raises(DataError):
        M.recall_at_k(["a"], [], 1)
    with pytest.raises(DataError):
        M.mrr_at_k(["a"], ["a"], 0)


# --- classification ----------------------------------------------------------------------------


Y_TRUE = ["pos", "pos", "neg", "neg", "neu", "pos"]
Y_PRED = ["pos", "neg", "neg", "pos", "neg", "pos"]


def test_classification_by_hand():
    assert M.accuracy(Y_TRUE, Y_PRED) == pytest.approx(3 / 6)
    per = M.per_class_f1(Y_TRUE, Y_PRED)
    # pos: TP 2, FP 1, FN 1 -> 4/6; neg: TP 1, FP 2, FN 1 -> 2/5; neu: TP 0 -> 0
    assert per == {"neg": pytest.approx(2 / 5), "neu": 0.0, "pos": pytest.approx(4 / 6)}
    assert M.macro_f1(Y_TRUE, Y_PRED) == pytest.approx((2 / 5 + 0 + 4 / 6) / 3)
    assert M.confusion_matrix(Y_TRUE, Y_PRED, ["pos", "neg", "neu"]) == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]


def test_classification_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.metrics")
    assert M.macro_f1(Y_TRUE, Y_PRED) == pytest.approx(sklearn.f1_score(Y_TRUE, Y_PRED, average="macro"))
    labels = ["pos", "neg", "neu"]
    assert M.confusion_matrix(Y_TRUE, Y_PRED, labels) == sklearn.confusion_matrix(Y_TRUE, Y_PRED,
                                                                                   labels=labels).tolist()


def test_classification_errors():
    with pytest.raises(DataError):
        M.accuracy(["a"], ["a", "b"])
    with pytest.raises(DataError):
        M.accuracy([], [])
    with pytest.raises(DataError, match="not in the label set"):
        M.confusion_matrix(["a"], ["zzz"], ["a", "b"])


def test_latency_summary():
    s = M.latency_summary([10, 20, 30, 40, 1000])
    assert s["p50"] == 30.0
    assert s["mean"] == pytest.approx(220.0)
    assert s["p95"] == pytest.approx(40 + 0.8 * 960)  # linear interpolation between 40 and 1000
    assert s["n"] == 5
    with pytest.raises(DataError):
        M.latency_summary([])


def test_strip_citations():
    assert M.strip_citations("Paris [1] is big [2, 3].") == "Paris is big ."
    assert M.strip_citations("in [the] year") == "in [the] year"
    assert M.qa_scores("Paris [1]", ["Paris"])["exact_match"] == 1.0


def test_citation_precision_counts_unsupported_model_markers_as_wrong():
    from ragtune.evaluate.metrics import citation_precision, citation_recall

    sents = [{"text": "Von Miller won.", "written": [1], "unsupported_markers": [1], "citation": 2,
              "method": "attributed"},
             {"text": "Denver won.", "written": [2], "unsupported_markers": [], "citation": 2, "method": "model"},
             {"text": "It rained.", "written": [], "unsupported_markers": [], "citation": None, "method": ""}]
    # citations: [1] (wrong), the attribution to 2 (right), [2] (right)
    assert citation_precision(sents) == 2 / 3
    assert citation_recall(sents) == 2 / 3
    assert citation_precision([{"text": "x", "written": []}]) is None
    assert citation_recall([{"text": "the of"}]) is None
