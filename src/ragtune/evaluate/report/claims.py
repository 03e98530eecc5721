"""The "Key differences" section: each claim of the RAG-versus-fine-tuning debate, checked on this run.

The six claims of the debate itself (knowledge source, updateability, set-up, groundedness, task
performance, model size) are judged here from the main comparison; the four checked by their
own experiments (data requirements, dependence on the knowledge base, versatility, removed
facts) are in ``experiment_claims.py``; :func:`key_differences` lists all ten. What a claim is
and the words of its verdicts: ``verdicts.py``.
"""

from __future__ import annotations

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.recommend import not_decided_words
from ragtune.evaluate.report.experiment_claims import (
    data_needs_rule,
    data_requirements,
    kb_dependence,
    kb_dependence_rule,
    removed_facts,
    removed_facts_rule,
    versatility,
    versatility_rule,
)
from ragtune.evaluate.report.verdicts import (
    CONTRADICTED,
    NOT_DECIDED,
    NOT_MEASURED,
    SUPPORTED,
    Claim,
    interval_decision,
)
from ragtune.evaluate.results import ComparisonResults, Estimate
from ragtune.evaluate.stats import PairedComparison, compare_pair, needed_words

__all__ = ["CONTRADICTED", "NOT_DECIDED", "NOT_MEASURED", "SUPPORTED", "Claim", "data_needs_rule",
           "data_requirements", "kb_dependence", "kb_dependence_rule", "key_differences", "knowledge_source",
           "model_size", "removed_facts", "removed_facts_rule", "response_generation", "setup_complexity",
           "task_performance", "updateability", "versatility", "versatility_rule"]


def _modes(results: ComparisonResults, family: str) -> list[str]:
    return [m.name for m in results.modes if m.family == family]


def _best(results: ComparisonResults, family: str, metric: str) -> tuple[str, Estimate] | None:
    scored = [(m, e) for m in _modes(results, family) if (e := results.metric(m, metric)) is not None]
    return max(scored, key=lambda me: me[1].value) if scored else None


def _better(results: ComparisonResults, a: str, b: str, metric: str) -> tuple[int, PairedComparison | None]:
    """+1 when mode ``a`` is clearly better than ``b`` (paired interval above 0, else disjoint intervals),
    -1 when clearly worse, 0 when the data cannot tell (or has no intervals); with the comparison."""
    c = compare_pair(results, a, b, metric)
    if c is None or c.evidence == "points":
        return 0, c
    return c.sign, c


def _vs(results: ComparisonResults, a: str, b: str, metric: str) -> str:
    label = metric_info(metric).label
    ea, eb = results.metric(a, metric), results.metric(b, metric)
    _, c = _better(results, a, b, metric)
    text = f"{a} {fmt.estimate(metric, ea)} against {b} {fmt.estimate(metric, eb)} {label}"
    if c is not None and c.evidence == "paired":
        text += f" (paired difference {fmt.diff(metric, c.diff)})"
    return text


def _undecided(c: PairedComparison | None) -> str:
    """The power estimate of an undecided comparison, as a sentence."""
    return "no intervals to decide on." if c is None else not_decided_words(c) + "."


def knowledge_source(results: ComparisonResults) -> Claim:
    claim = Claim("knowledge-source", "Knowledge source",
                  "RAG answers from retrieved documents; fine-tuning answers from knowledge stored in "
                  "the weights.")
    metric = results.primary_metric
    base, rag, ft = (_best(results, fam, metric) for fam in ("base", "rag", "fine-tuning"))
    rag_sign = ft_sign = 0
    rag_cmp = ft_cmp = None
    if base and rag:
        rag_sign, rag_cmp = _better(results, rag[0], base[0], metric)
        claim.evidence.append(f"Retrieval: {_vs(results, rag[0], base[0], metric)}.")
    if base and ft:
        ft_sign, ft_cmp = _better(results, ft[0], base[0], metric)
        claim.evidence.append(f"Weights: {_vs(results, ft[0], base[0], metric)}.")
    for mode in _modes(results, "rag") + _modes(results, "both"):
        share = results.metric(mode, "supported_token_share")
        changed = results.metric(mode, "answer_changed")
        if share is not None:
            text = (f"{mode}: {fmt.pct('supported_token_share', share)} of the answer's content words "
                    "appear in the retrieved text")
            if changed is not None:
                text += (f"; the answer changed in {fmt.pct('answer_changed', changed)} of questions "
                         "when the retrieved text was removed")
            claim.evidence.append(text + ".")
    if not claim.evidence:
        return claim
    parts = ([rag_sign] if rag and base else []) + ([ft_sign] if ft and base else [])
    if not parts:
        claim.verdict = "measured"
    elif -1 in parts:
        claim.verdict = CONTRADICTED
    elif parts == [1, 1]:
        claim.verdict = SUPPORTED
    elif 1 in parts:  # one part supported: the other is not decided, or was not measured
        claim.verdict = "partly supported"
    else:
        claim.verdict = NOT_DECIDED
    if rag and base:
        if rag_sign < 0:
            claim.evidence.append("Retrieved text made answers measurably worse than the closed-book model's.")
        elif rag_sign == 0:
            claim.evidence.append("Retrieval against the closed-book model: " + _undecided(rag_cmp))
    if ft and base:
        if ft_sign < 0:
            claim.evidence.append("Training made answers measurably worse than the base model's.")
        elif ft_sign == 0:
            claim.evidence.append("Training against the base model: " + _undecided(ft_cmp))
    return claim


def updateability(results: ComparisonResults) -> Claim:
    claim = Claim("updateability", "Updateability",
                  "A knowledge base takes new facts in seconds by indexing them; a fine-tuned model must be "
                  "retrained.")
    if not results.freshness:
        return claim
    rag_side, ft_side = [], []
    for f in results.freshness:
        family = results.mode(f.mode).family if f.mode in results.mode_names else ""
        m = f.metric
        parts = [f"{f.mode}: new facts answered {fmt.pct(m, f.new_before)} before the update, "
                 f"{fmt.pct(m, f.new_after)} after"]
        if f.old_after is not None:
            parts.append(f"old (now wrong) answers still given {fmt.pct(m, f.old_after)}")
        if f.update_s is not None:
            parts.append(f"update took {fmt.seconds(f.update_s)}")
        if f.retrain_s is not None:
            parts.append(f"retraining took {fmt.seconds(f.retrain_s)}"
                         + (f" and reached {fmt.pct(m, f.new_after_retrain)} on the new facts"
                            if f.new_after_retrain else ""))
        claim.evidence.append("; ".join(parts) + ".")
        (rag_side if family in ("rag", "both") else ft_side if family == "fine-tuning" else []).append(f)
    rag_best = max((f for f in rag_side if f.new_after), key=lambda f: f.new_after.value, default=None)
    ft_best = max((f for f in ft_side if f.new_after), key=lambda f: f.new_after.value, default=None)
    if rag_best and ft_best:
        sign, needed = interval_decision(rag_best.new_after, ft_best.new_after)
        faster = (rag_best.update_s is not None and ft_best.retrain_s is not None
                  and rag_best.update_s < ft_best.retrain_s)
        if faster:
            speedup = fmt.ratio(ft_best.retrain_s, rag_best.update_s)
            claim.evidence.append(f"The update was {speedup} faster than retraining.")
        if sign < 0:
            claim.verdict = CONTRADICTED
            claim.evidence.append(f"{ft_best.mode} answered clearly more of the new facts than {rag_best.mode} "
                                  "(the intervals do not overlap).")
        elif sign > 0:
            claim.verdict = SUPPORTED if faster else "partly supported"
        else:
            claim.verdict = NOT_DECIDED
            n = min(rag_best.new_after.n, ft_best.new_after.n)
            about = f"; {needed_words(needed, 'new facts')}" if needed else ""
            claim.evidence.append(f"{rag_best.mode} vs {ft_best.mode} on the new facts is not decided at "
                                  f"n={n} (the intervals overlap){about}.")
    else:
        claim.verdict = "measured"
    return claim


def setup_complexity(results: ComparisonResults) -> Claim:
    claim = Claim("setup-complexity", "Set-up complexity",
                  "RAG needs only an index of the documents; fine-tuning needs a training run.")
    setups = {m: c.setup_s for m, c in results.costs.items() if c.setup_s is not None}
    if not setups:
        return claim
    for mode, s in setups.items():
        detail = results.costs[mode].setup_detail
        extra = f" ({', '.join(f'{k} {fmt.seconds(v)}' for k, v in detail.items())})" if detail else ""
        claim.evidence.append(f"{mode}: set-up {fmt.seconds(s)}{extra}.")
    fam = {m: results.mode(m).family for m in setups if m in results.mode_names}
    rag = [setups[m] for m in setups if fam.get(m) == "rag"]
    ft = [setups[m] for m in setups if fam.get(m) == "fine-tuning"]
    if rag and ft:
        r, f = min(rag), min(ft)
        claim.evidence.append(f"The cheapest fine-tuning set-up took {fmt.ratio(f, r)} the time of the "
                              "cheapest RAG set-up.")
        claim.verdict = "supported" if r < f else "not supported"
    else:
        claim.verdict = "measured"
    return claim


def response_generation(results: ComparisonResults) -> Claim:
    claim = Claim("response-generation", "Response generation and groundedness",
                  "RAG answers can be checked against and cited to their sources; a fine-tuned model answers "
                  "from memory with nothing to point at.")
    if results.task != "qa":
        claim.evidence.append("Classification predicts labels: retrieved examples serve as demonstrations, "
                              "not as citable sources.")
        return claim
    # A mode is grounded when most of its sentences carry a supporting citation and most citations hold.
    grounded, partly = [], []
    for mode in _modes(results, "rag") + _modes(results, "both"):
        m = {k: results.metric(mode, k) for k in ("citation_precision", "citation_recall", "citation_contains_gold",
                                                  "context_has_gold", "supported_token_share")}
        parts = []
        if m["citation_recall"] is not None:
            parts.append(f"{fmt.pct('citation_recall', m['citation_recall'])} of answer sentences carry a "
                         "supporting citation")
        if m["citation_precision"] is not None:
            parts.append(f"{fmt.pct('citation_precision', m['citation_precision'])} of citations are supported")
        if m["citation_contains_gold"] is not None:
            cg = fmt.pct("citation_contains_gold", m["citation_contains_gold"])
            parts.append(f"cited passages hold the gold answer in {cg}")
        if m["context_has_gold"] is not None:
            parts.append(f"the retrieved text held it in {fmt.pct('context_has_gold', m['context_has_gold'])}")
        if m["supported_token_share"] is not None:
            parts.append(f"{fmt.pct('supported_token_share', m['supported_token_share'])} of content words "
                         "occur in the retrieved text")
        if parts:
            claim.evidence.append(f"{mode}: " + "; ".join(parts) + ".")
        rec, prec = m["citation_recall"], m["citation_precision"]
        if rec is not None and prec is not None and rec.value >= 0.5 and prec.value >= 0.8:
            grounded.append(mode)
        elif rec is not None and rec.value > 0:
            partly.append(mode)
    lat = {m: e for m in results.mode_names if (e := results.metric(m, "latency_p50_ms")) is not None}
    if lat:
        claim.evidence.append("Median latency: " + ", ".join(f"{m} {fmt.value('latency_p50_ms', e.value)} ms"
                                                             for m, e in lat.items())
                              + " (retrieved text makes prompts longer).")
    claim.evidence.append("Rule: supported when a retrieval mode has citation recall of at least 50% and citation "
                          "precision of at least 80%; partly supported when some sentences are cited; not supported "
                          "when no answer sentence is grounded in a cited passage.")
    if grounded:
        claim.verdict = "supported"
    elif partly:
        claim.verdict = "partly supported"
    elif _modes(results, "rag") + _modes(results, "both"):
        claim.verdict = "not supported"
    elif lat:
        claim.verdict = "measured"
    return claim


def task_performance(results: ComparisonResults) -> Claim:
    claim = Claim("task-performance", "Task performance",
                  "Fine-tuning adapts the model to the task's format and labels; RAG brings knowledge "
                  "but not behaviour.")
    metric = results.primary_metric
    rag, ft = _best(results, "rag", metric), _best(results, "fine-tuning", metric)
    for fam in ("base", "rag", "fine-tuning", "both"):
        best = _best(results, fam, metric)
        if best:
            claim.evidence.append(f"Best {fam}: {best[0]} {fmt.estimate(metric, best[1])} "
                                  f"{metric_info(metric).label}.")
    for mode in results.modes:
        if mode.variant_of and mode.variant_of in results.mode_names and results.metric(mode.name, metric):
            claim.evidence.append(f"Variant {_vs(results, mode.name, mode.variant_of, metric)}.")
    if rag and ft:
        sign, c = _better(results, ft[0], rag[0], metric)
        claim.evidence.append(f"Head to head: {_vs(results, ft[0], rag[0], metric)}.")
        claim.verdict = SUPPORTED if sign > 0 else CONTRADICTED if sign < 0 else NOT_DECIDED
        if sign == 0:
            claim.evidence.append("The difference is within noise at 95% confidence: " + _undecided(c))
    elif claim.evidence:
        claim.verdict = "measured"
    return claim


def model_size(results: ComparisonResults) -> Claim:
    claim = Claim("model-size", "Model size",
                  "Fine-tuning keeps the knowledge inside the model (a small adapter, or a full copy when "
                  "merged); RAG keeps the model unchanged and stores the knowledge in an index beside it.")
    base = next((c.base_model_bytes for c in results.costs.values() if c.base_model_bytes), None)
    adapters = {m: c.adapter_bytes for m, c in results.costs.items() if c.adapter_bytes}
    merged = {m: c.merged_bytes for m, c in results.costs.items() if c.merged_bytes}
    index = {m: c.index_bytes for m, c in results.costs.items() if c.index_bytes}
    if base:
        claim.evidence.append(f"Base model: {fmt.nbytes(base)}.")
    for name, table in (("adapter", adapters), ("merged model", merged), ("index", index)):
        for mode, size in table.items():
            rel = f" ({100 * size / base:.1f}% of the base model)" if base else ""
            claim.evidence.append(f"{mode} {name}: {fmt.nbytes(size)}{rel}.")
    peak = {m: c.peak_memory_mb for m, c in results.costs.items() if c.peak_memory_mb}
    if peak:
        claim.evidence.append("Peak memory: " + ", ".join(f"{m} {v:,.0f} MB" for m, v in peak.items()) + ".")
    if claim.evidence:
        claim.verdict = "measured"
    if adapters and index:
        a, i = min(adapters.values()), min(index.values())
        claim.evidence.append(f"The smallest adapter is {fmt.ratio(a, i)} the size of the smallest index.")
    return claim


def key_differences(results: ComparisonResults) -> list[Claim]:
    """Every debate claim, in the order the debate usually lists them."""
    return [knowledge_source(results), updateability(results), setup_complexity(results),
            response_generation(results), task_performance(results), model_size(results),
            data_requirements(results), kb_dependence(results), versatility(results), removed_facts(results)]
