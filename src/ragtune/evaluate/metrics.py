"""Metrics as small pure functions, each with the source it follows.

Every per-item score is a fraction in [0, 1] (or a cosine in [-1, 1]); reports multiply by 100
for display, the way the SQuAD script prints its numbers. Nothing here loads a model: the
semantic score takes vectors so the caller decides which embedder made them.

Hand-written on purpose: each is a few lines checked against its source (the SQuAD script's
normalisation, for one), where a library version (Hugging Face ``evaluate``, RAGAS) would pull in a
dependency tree, or a judge model, for one function.

Example:
    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
    >>> token_f1("the Eiffel Tower in Paris", ["Eiffel Tower"])
    0.6666666666666666
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ragtune.errors import DataError
from ragtune.scoring import accuracy, confusion_matrix, macro_f1, per_class_f1  # noqa: F401 (re-exported)
from ragtune.text import (  # noqa: F401 (re-exported)
    STOP_WORDS,
    answer_tokens,
    check_golds,
    content_tokens,
    normalize_answer,
    pair_f1,
    token_f1,
)

# --- answer quality (SQuAD v1.1) ----------------------------------------------------------------

def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer, else 0.0.

    Source: SQuAD v1.1 ``exact_match_score`` with ``metric_max_over_ground_truths``.
    """
    check_golds(golds)
    norm = normalize_answer(prediction)
    return float(any(norm == normalize_answer(g) for g in golds))


def answer_recall(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when a normalised gold answer appears inside the normalised prediction.

    Generative models answer in sentences ("The tower is in Paris."), which exact match
    scores 0; this checks that the answer is there at all. It matches whole tokens
    ("paris" is not found in "parisian"). Source: the "answer recall" / "has answer" check
    of open-domain QA evaluation (Chen et al. 2017, DrQA; Kandpal et al. 2023), on SQuAD
    normalisation. A gold answer that normalises to nothing never matches.
    """
    check_golds(golds)
    padded = f" {normalize_answer(prediction)} "
    for gold in golds:
        norm = normalize_answer(gold)
        if norm and f" {norm} " in padded:
            return 1.0
    return 0.0


def semantic_similarity(pred_vec: Sequence[float] | np.ndarray, gold_vecs: Sequence | np.ndarray) -> float:
    """Cosine similarity of a prediction vector with the gold vectors, the maximum over golds.

    For long answers where token overlap undercounts a paraphrase (the BERTScore/SAS idea,
    Risch et al. 2021, with a sentence embedder instead of a cross-encoder). ``gold_vecs`` is
    one vector or a 2-D array with one row per gold answer. A zero vector scores 0.
    """
    pred = np.asarray(pred_vec, dtype=np.float64).ravel()
    golds = np.atleast_2d(np.asarray(gold_vecs, dtype=np.float64))
    if golds.size == 0 or pred.size == 0:
        raise DataError("semantic_similarity needs a prediction vector and at least one gold vector")
    if golds.shape[1] != pred.shape[0]:
        raise DataError(f"vector sizes differ: prediction {pred.shape[0]}, gold {golds.shape[1]}")
    norms = np.linalg.norm(golds, axis=1) * np.linalg.norm(pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(norms > 0, golds @ pred / np.where(norms > 0, norms, 1.0), 0.0)
    return float(np.max(cos))


# --- groundedness and context reliance ----------------------------------------------------------

# A small English stop list (function words, plus the words answers borrow from the prompt such
# as "according to the context"), so that "the answer is in the text" counts the words that
# carry content. Articles are already gone after SQuAD normalisation.
def supported_token_share(answer: str, context_texts: Sequence[str]) -> float | None:
    """Share of the answer's content tokens that occur anywhere in the retrieved text.

    A lexical groundedness proxy in the spirit of the "unigram precision against the
    evidence" checks used for attribution (Rashkin et al. 2021, AIS; Dziri et al. 2022): a
    high share means the answer mostly repeats retrieved words, a low share means it says
    things the retrieved text does not. Tokens are counted with repetition. Returns None
    when the answer has no content tokens (an empty or all-stop-word answer is neither
    grounded nor ungrounded), so averages skip it.
    """
    tokens = content_tokens(answer)
    if not tokens:
        return None
    support = set()
    for text in context_texts:
        support.update(answer_tokens(text))
    return sum(t in support for t in tokens) / len(tokens)


def citation_contains_gold(cited_texts: Sequence[str], golds: Sequence[str]) -> float:
    """1.0 when any cited chunk contains a gold answer (normalised, whole tokens), else 0.0.

    Says whether the answer pointed at evidence that actually holds the answer (citation
    precision in the sense of Gao et al. 2023, ALCE, judged against the gold answer
    instead of an NLI model). No citations scores 0.
    """
    check_golds(golds)
    return float(any(answer_recall(text, golds) for text in cited_texts))


def citation_precision(sentences: Sequence[dict]) -> float | None:
    """Share of an answer's citations whose passage supports the sentence they stand in.

    A citation is a marker the model wrote (``written``) or a passage ragtune attributed to a
    sentence; written markers whose passage does not support the sentence
    (``unsupported_markers``) are the wrong ones. This is ALCE's citation precision (Gao et al.
    2023) with the lexical/embedding support check of ``generate/citations.py`` in place of an
    NLI model. None when the answer has no citation at all.
    """
    total = wrong = 0
    for s in sentences:
        written = set(s.get("written") or [])
        bad = set(s.get("unsupported_markers") or [])
        attributed = 1 if s.get("method") == "attributed" else 0
        total += len(written) + attributed
        wrong += len(bad & written)
    return None if total == 0 else (total - wrong) / total


def citation_recall(sentences: Sequence[dict]) -> float | None:
    """Share of an answer's sentences (with content words) that carry a supporting citation.

    ALCE's citation recall (Gao et al. 2023) with the same support check. None for an answer with
    no sentence that says anything (empty, or only stop words).
    """
    said = [s for s in sentences if content_tokens(s.get("text", ""))]
    if not said:
        return None
    return sum(s.get("citation") is not None for s in said) / len(said)


class ContextReliance(NamedTuple):
    """Whether the answer changed when the retrieved text was removed, and how much it overlaps."""

    changed: bool
    overlap_f1: float


def answer_changed(answer_with_ctx: str, answer_without_ctx: str) -> ContextReliance:
    """Compare the answer given with retrieved text against the closed-book answer.

    ``changed``: neither normalised answer holds the other as whole tokens, so a reworded
    answer with the same content ("The answer is 8." and "8") is not a change, while "10
    tackles" and "11 tackles" is (plain inequality called every reworded sentence a change:
    100% on any free-text run). ``overlap_f1`` is the SQuAD token F1 between the two answers
    (1.0 when both normalise to nothing). A model that ignores its context gives the same
    answer either way: this is the counterfactual "context reliance" test of Longpre et al.
    2021 (entity-based knowledge conflicts) in its simplest form.
    """
    a, b = normalize_answer(answer_with_ctx), normalize_answer(answer_without_ctx)
    if not a and not b:
        return ContextReliance(False, 1.0)
    same = bool(a and b) and (f" {a} " in f" {b} " or f" {b} " in f" {a} ")
    return ContextReliance(not same, pair_f1(a, b))


# --- retrieval ----------------------------------------------------------------------------------


def _check_retrieval(gold_ids: Sequence[Hashable], k: int) -> set:
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    gold = set(gold_ids)
    if not gold:
        raise DataError("a retrieval query has no gold ids: only score queries whose source is known")
    return gold


def recall_at_k(ranked_ids: Sequence[Hashable], gold_ids: Sequence[Hashable], k: int) -> float:
    """Share of the gold ids found among the first ``k`` ranked ids (Manning et al. 2008, ch. 8).

    With one gold id per query (SQuAD: the source paragraph) this is the hit rate at k.
    Repeated ids (several chunks of one document) are counted once.
    """
    gold = _check_retrieval(gold_ids, k)
    return len(gold & set(ranked_ids[:k])) / len(gold)


def mrr_at_k(ranked_ids: Sequence[Hashable], gold_ids: Sequence[Hashable], k: int) -> float:
    """Reciprocal rank of the first gold id within the first ``k``, 0 if none (Voorhees 1999, TREC-8 QA)."""
    gold = _check_retrieval(gold_ids, k)
    for rank, doc in enumerate(ranked_ids[:k], start=1):
        if doc in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked_ids: Sequence[Hashable], gold_ids: Sequence[Hashable], k: int) -> float:
    """nDCG@k with binary relevance and log2 discount (Järvelin & Kekäläinen 2002).

    DCG = sum over ranks r <= k of rel_r / log2(r + 1); the ideal ranks every gold id first.
    A gold id repeated in the ranking earns its gain only at its first rank, so the score
    stays in [0, 1] when several chunks of one document are retrieved.
    """
    gold = _check_retrieval(gold_ids, k)
    seen: set = set()
    dcg = 0.0
    for rank, doc in enumerate(ranked_ids[:k], start=1):
        if doc in gold and doc not in seen:
            seen.add(doc)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


# --- classification: accuracy, per_class_f1, macro_f1 and confusion_matrix are in ragtune.scoring,
# on the ground floor for training too, and re-exported here.


# --- latency ------------------------------------------------------------------------------------


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of latencies in milliseconds (numpy linear-interpolation percentiles)."""
    values = np.asarray(latencies_ms, dtype=np.float64)
    if values.size == 0:
        raise DataError("no latencies to summarise")
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "mean": float(values.mean()),
        "n": int(values.size),
    }


# --- one QA item, all scores at once ------------------------------------------------------------

_CITATION_MARK = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")


def strip_citations(text: str) -> str:
    """Remove citation markers such as "[1]" or "[2, 3]", which are not part of the answer's words."""
    return " ".join(_CITATION_MARK.sub(" ", text).split())


def qa_scores(
    prediction: str,
    golds: Sequence[str],
    *,
    context_texts: Sequence[str] | None = None,
    cited_texts: Sequence[str] | None = None,
    answer_without_context: str | None = None,
    pred_vec: Sequence[float] | np.ndarray | None = None,
    gold_vecs: Sequence | np.ndarray | None = None,
    sentences: Sequence[dict] | None = None,
) -> dict[str, float]:
    """Every QA score that applies to one answer, keyed by the names in ``METRICS``.

    Citation markers ("[1]") are removed from the prediction first, so a cited answer is not
    penalised for its reference numbers. Scores that need information the mode does not have
    (no retrieved text for a closed-book mode, no vectors) are left out rather than set to 0,
    so a mode's mean is over the items where the score means something.
    """
    prediction = strip_citations(prediction)
    scores = {
        "exact_match": exact_match(prediction, golds),
        "token_f1": token_f1(prediction, golds),
        "answer_recall": answer_recall(prediction, golds),
    }
    if pred_vec is not None and gold_vecs is not None:
        scores["semantic_similarity"] = semantic_similarity(pred_vec, gold_vecs)
    if context_texts:
        share = supported_token_share(prediction, context_texts)
        if share is not None:
            scores["supported_token_share"] = share
        scores["context_has_gold"] = citation_contains_gold(context_texts, golds)
    if cited_texts is not None and context_texts:
        scores["citation_contains_gold"] = citation_contains_gold(cited_texts, golds)
    if sentences is not None and context_texts:
        for name, fn in (("citation_precision", citation_precision), ("citation_recall", citation_recall)):
            value = fn(sentences)
            if value is not None:
                scores[name] = value
    if answer_without_context is not None:
        reliance = answer_changed(prediction, answer_without_context)
        scores["answer_changed"] = float(reliance.changed)
        scores["no_context_overlap_f1"] = reliance.overlap_f1
    return scores


# --- what each number means ---------------------------------------------------------------------


@dataclass(frozen=True)
class MetricInfo:
    """How to show and read one metric."""

    label: str
    unit: str  # "percent" (fraction shown x100), "cosine", "ms", "count"
    higher_is_better: bool | None  # None: descriptive, neither direction is better
    meaning: str


METRICS: dict[str, MetricInfo] = {
    "exact_match": MetricInfo("EM", "percent", True,
                              "answer equals a gold answer after SQuAD normalisation"),
    "token_f1": MetricInfo("F1", "percent", True,
                           "token overlap with the best-matching gold answer (SQuAD F1)"),
    "answer_recall": MetricInfo("Answer recall", "percent", True,
                                "the normalised gold answer appears inside the answer"),
    "semantic_similarity": MetricInfo("Semantic sim.", "cosine", True,
                                      "cosine of answer and gold answer embeddings"),
    "supported_token_share": MetricInfo("Supported tokens", "percent", True,
                                        "share of the answer's content words found in the retrieved text"),
    "context_has_gold": MetricInfo("Context has gold", "percent", True,
                                   "the retrieved text contains the gold answer (retrieval hit)"),
    "citation_contains_gold": MetricInfo("Citation has gold", "percent", True,
                                         "a chunk the answer cites contains the gold answer"),
    "citation_precision": MetricInfo("Citation precision", "percent", True,
                                     "share of citations whose passage supports their sentence"),
    "citation_recall": MetricInfo("Citation recall", "percent", True,
                                  "share of answer sentences with a supporting citation"),
    "answer_changed": MetricInfo("Changed w/o context", "percent", None,
                                 "the answer changes when the retrieved text is removed (context reliance)"),
    "no_context_overlap_f1": MetricInfo("Overlap w/o context", "percent", None,
                                        "token F1 between the answers with and without retrieved text"),
    "accuracy": MetricInfo("Accuracy", "percent", True, "share of items with the right label"),
    "macro_f1": MetricInfo("Macro-F1", "percent", True, "mean of the per-class F1 scores"),
    "correct": MetricInfo("Correct", "percent", True, "the predicted label is the true label"),
    "invalid_share": MetricInfo("Invalid", "percent", False, "share of answers that are not one of the labels"),
    "latency_p50_ms": MetricInfo("p50 ms", "ms", False, "median answer latency"),
    "latency_p95_ms": MetricInfo("p95 ms", "ms", False, "95th-percentile answer latency"),
    "latency_mean_ms": MetricInfo("mean ms", "ms", False, "mean answer latency"),
}


def metric_info(name: str) -> MetricInfo:
    """The display info of a metric; unknown names get a neutral entry instead of failing."""
    if name in METRICS:
        return METRICS[name]
    if name.startswith(("recall@", "mrr@", "ndcg@")):
        return MetricInfo(name, "percent", True, "retrieval quality against the known gold sources")
    return MetricInfo(name, "percent", True, name)
