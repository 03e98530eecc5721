"""The "Key differences" section: each claim of the RAG-versus-fine-tuning debate, checked on this run.

Each claim gets the evidence this run measured, written from the numbers, and a verdict
from a small explicit rule. A claim tested on intervals (a difference between modes) has
three outcomes: "supported" (the interval of the difference excludes 0 the way the claim
says), "contradicted" (it excludes 0 the other way) and "not decided at this size" (it
includes 0: the data cannot tell, and the evidence says about how many questions would
decide a difference of this size). A claim with two such parts is "partly supported" when
one part is supported and the other is not decided or not measured. Claims judged on
measurements without sampling noise (set-up times) or on an evidence rule (groundedness)
keep "supported", "partly supported" and "not supported". "measured" is evidence without a
yes/no question; "not measured" marks a claim whose numbers are missing, which says so
instead of repeating the textbook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.recommend import not_decided_words
from ragtune.evaluate.report import format as fmt
from ragtune.evaluate.results import ComparisonResults, Estimate
from ragtune.evaluate.stats import PairedComparison, compare_pair, questions_to_decide

NOT_MEASURED = "not measured"
SUPPORTED, CONTRADICTED, NOT_DECIDED = "supported", "contradicted", "not decided at this size"


@dataclass
class Claim:
    """One debate claim: an id for the HTML, the topic, the claim, the verdict and the evidence."""

    key: str
    topic: str
    claim: str
    verdict: str = NOT_MEASURED
    evidence: list[str] = field(default_factory=list)


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
        sign, needed = _interval_decision(rag_best.new_after, ft_best.new_after)
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
            about = (f"; about {needed:,} new facts would decide a difference of this size" if needed
                     else "")
            claim.evidence.append(f"{rag_best.mode} vs {ft_best.mode} on the new facts is not decided at "
                                  f"n={n} (the intervals overlap){about}.")
    else:
        claim.verdict = "measured"
    return claim


def _interval_decision(a: Estimate, b: Estimate) -> tuple[int, int | None]:
    """+1 / -1 when the intervals of ``a`` and ``b`` do not overlap (0 otherwise), and the items that
    would decide a difference of this size: two independent samples, each sd from its interval's width."""
    if not (a.has_ci and b.has_ci):
        gap = a.value - b.value
        return (1 if gap > 0.05 else -1 if gap < -0.05 else 0), None
    sign = 1 if a.lo > b.hi else -1 if b.lo > a.hi else 0
    z = NormalDist().inv_cdf(0.975)
    sds = [(e.hi - e.lo) / (2 * z) * math.sqrt(max(e.n, 1)) for e in (a, b)]
    return sign, questions_to_decide(a.value - b.value, math.hypot(*sds))


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


# ---- the claim experiments (learning curve, knowledge-base quality, versatility, removed facts) -----------------
# Each rule is a small function of the numbers (tested on fixed ones); the claim card quotes them.

def _sign(e: Estimate | None) -> int:
    """+1 / -1 when a paired difference's 95% interval lies above / below 0; 0 when it includes 0 (or is missing)."""
    if e is None or not e.has_ci:
        return 0
    return 1 if e.lo > 0 else -1 if e.hi < 0 else 0


def _est(d: dict | None) -> Estimate | None:
    return Estimate.from_dict(d) if isinstance(d, dict) else d


def data_needs_rule(vs_rag: list[Estimate | None], growth: Estimate | None) -> str:
    """The verdict of "fine-tuning needs a lot of data" from the best fine-tuned mode's paired difference to rag
    at each share (smallest first) and its growth from the smallest share to the largest."""
    signs = [_sign(e) for e in vs_rag]
    if not signs:
        return "measured"
    if all(s < 0 for s in signs):
        return SUPPORTED  # never reaches rag, even with all the labelled data
    if all(s == 0 for s in signs) and _sign(growth) == 0:
        return NOT_DECIDED
    if signs[0] >= 0:  # level with (or above) rag already at the smallest share
        return "partly supported" if _sign(growth) > 0 else CONTRADICTED
    return SUPPORTED  # below rag with little data, level only with more


def data_requirements(results: ComparisonResults) -> Claim:
    claim = Claim("data-requirements", "Data requirements",
                  "Fine-tuning needs a lot of high-quality, task-specific data; RAG needs none labelled.")
    lc = results.learning_curve
    if not lc or not lc.get("points"):
        return claim
    metric = lc["metric"]
    label = metric_info(metric).label
    flat = {m: _est(e) for m, e in lc.get("flat", {}).items()}
    if flat:
        claim.evidence.append("No labelled data: " + ", ".join(f"{m} {fmt.estimate(metric, e)}" for m, e in
                                                              flat.items()) + f" {label} (flat lines).")
    by_mode: dict[str, list[dict]] = {}
    for p in lc["points"]:
        by_mode.setdefault(p["mode"], []).append(p)
    for mode, pts in by_mode.items():
        claim.evidence.append(f"{mode}: " + "; ".join(
            f"{100 * p['fraction']:g}% ({p['n_train']} questions) {fmt.estimate(metric, _est(p['score']))}"
            for p in pts) + f" {label}.")
    best = max(by_mode, key=lambda m: by_mode[m][-1]["score"]["value"])
    pts = by_mode[best]
    vs_rag = [_est(p.get("vs_rag")) for p in pts]
    growth = _est(pts[-1].get("vs_smallest"))
    if any(v is not None for v in vs_rag):
        catch = next((p for p, v in zip(pts, vs_rag, strict=True) if _sign(v) >= 0), None)
        diffs = ", ".join(f"{100 * p['fraction']:g}% {fmt.diff(metric, v)}" for p, v in zip(pts, vs_rag, strict=True))
        claim.evidence.append(f"{best} (best at the full set) minus rag, paired: {diffs}.")
        claim.evidence.append(f"{best} catches up with rag (not clearly below it) at {100 * catch['fraction']:g}% "
                              f"of the data ({catch['n_train']} labelled questions)." if catch else
                              f"{best} does not catch up with rag at any share, up to {pts[-1]['n_train']} "
                              "labelled questions.")
    if len(pts) > 1:
        claim.evidence.append(f"From {pts[0]['n_train']} to {pts[-1]['n_train']} training questions {best} changed "
                              f"by {fmt.diff(metric, growth)} (paired).")
    claim.evidence.append("Rule: supported when the best fine-tuned mode stays clearly below rag (paired 95% interval "
                          "below 0) at every share, or reaches rag only with more data; contradicted when it is "
                          "level with rag at the smallest share and more data did not measurably help; partly "
                          "supported when it is level at the smallest share and still grows; not decided when no "
                          "difference is clear.")
    claim.verdict = data_needs_rule(vs_rag, growth) if any(v is not None for v in vs_rag) else "measured"
    return claim


def kb_dependence_rule(missing: Estimate | None, noisy: Estimate | None) -> str:
    """The verdict of "RAG depends on its knowledge base" from rag's paired drops (degraded minus intact)."""
    signs = [_sign(e) for e in (missing, noisy) if e is not None]
    if not signs:
        return NOT_MEASURED
    if 1 in signs:
        return CONTRADICTED  # a degraded knowledge base made rag clearly better
    if all(s < 0 for s in signs) and len(signs) == 2:
        return SUPPORTED
    return "partly supported" if -1 in signs else NOT_DECIDED


_CONDITION = {"missing": "gold passages removed", "noisy": "distractors added"}


def kb_dependence(results: ComparisonResults) -> Claim:
    claim = Claim("kb-dependence", "Dependence on the knowledge base",
                  "RAG is only as good as its knowledge base: an incomplete or noisy one makes it worse; knowledge "
                  "in the weights may cushion the loss.")
    kq = results.kb_quality
    if not kq or not kq.get("conditions"):
        return claim
    metric = kq["metric"]
    label = metric_info(metric).label
    rag_drop: dict[str, Estimate | None] = {}
    for cond, c in kq["conditions"].items():
        what = _CONDITION.get(cond, cond)
        if cond == "noisy":
            dist = kq.get("distractors", {})
            what += (f": {dist.get('other_topic', 0)} passages of another topic, {dist.get('near_duplicates', 0)} "
                     "near-duplicates with one fact changed")
        parts = []
        for mode, row in c["modes"].items():
            drop = _est(row["drop"])
            intact, degraded = fmt.estimate(metric, _est(row["intact"])), fmt.estimate(metric, _est(row["degraded"]))
            text = f"{mode} {intact} -> {degraded} (paired change {fmt.diff(metric, drop)})"
            cushion = _est(row.get("cushion_vs_rag"))
            if cushion is not None:
                verdict = {1: "smaller than rag's", -1: "larger than rag's", 0: "not distinguishable from rag's"}
                text += f", its loss {verdict[_sign(cushion)]} ({fmt.diff(metric, cushion)})"
            parts.append(text)
            if mode == "rag":
                rag_drop[cond] = drop
        claim.evidence.append(f"{what.capitalize()} (n={c['n']} questions, {label}): " + "; ".join(parts) + ".")
    claim.evidence.append("Rule: supported when rag's paired 95% interval of the change lies below 0 with the gold "
                          "passages removed and with distractors added; partly supported when one of the two; "
                          "contradicted when a degraded knowledge base made rag clearly better; not decided "
                          "otherwise.")
    claim.verdict = kb_dependence_rule(rag_drop.get("missing"), rag_drop.get("noisy"))
    return claim


def versatility_rule(switching: Estimate | None, forgetting: Estimate | None) -> str:
    """The verdict of "RAG is versatile, fine-tuning on one topic loses others" from the paired differences on
    topic B: rag with B's knowledge base minus base (switching), ft trained on A minus base (forgetting)."""
    if switching is None and forgetting is None:
        return NOT_MEASURED
    sw, fg = _sign(switching), _sign(forgetting)
    if sw < 0 or (fg > 0 and sw <= 0):
        return CONTRADICTED
    if sw > 0 and fg < 0:
        return SUPPORTED
    if sw > 0 or fg < 0:
        return "partly supported"
    return NOT_DECIDED


def versatility(results: ComparisonResults) -> Claim:
    claim = Claim("versatility", "Versatility",
                  "RAG covers a new topic by switching its knowledge base; a model fine-tuned on one topic loses "
                  "others.")
    v = results.versatility
    if not v or not v.get("topic_b"):
        return claim
    metric = v["metric"]
    label = metric_info(metric).label
    b = {m: _est(e) for m, e in v["topic_b"].items()}
    a = {m: _est(e) for m, e in v.get("topic_a", {}).items()}
    claim.evidence.append(f"Second topic (n={v['n']} questions, {v['docs']} documents in its own knowledge base), "
                          f"{label}: " + ", ".join(f"{m} {fmt.estimate(metric, e)}" for m, e in b.items()) + ".")
    if a:
        claim.evidence.append("First topic: " + ", ".join(f"{m} {fmt.estimate(metric, e)}" for m, e in a.items()) + ".")
    sw, fg = _est(v.get("switching")), _est(v.get("forgetting"))
    if sw is not None:
        claim.evidence.append(f"Switching the knowledge base: rag minus base on the second topic "
                              f"{fmt.diff(metric, sw)} (paired).")
    if fg is not None:
        claim.evidence.append(f"Forgetting: ft (trained on the first topic) minus base on the second topic "
                              f"{fmt.diff(metric, fg)} (paired).")
    claim.evidence.append("Rule: supported when rag with the second topic's knowledge base is clearly above the base "
                          "model there and ft is clearly below it (paired 95% intervals); partly supported when one "
                          "of the two; contradicted when switching made rag clearly worse, or ft is clearly better "
                          "on the other topic while switching did not help; not decided otherwise.")
    claim.verdict = versatility_rule(sw, fg)
    return claim


def removed_facts_rule(ft_after: Estimate | None, rag_after: Estimate | None) -> tuple[str, int | None]:
    """The verdict of "a fine-tuned model keeps asserting removed facts" from the share of removed facts each still
    asserts after the deletion (intervals compared, as for updateability), and the facts that would decide it."""
    if ft_after is None or rag_after is None:
        return NOT_MEASURED, None
    sign, needed = _interval_decision(ft_after, rag_after)
    return (SUPPORTED if sign > 0 else CONTRADICTED if sign < 0 else NOT_DECIDED), needed


def removed_facts(results: ComparisonResults) -> Claim:
    claim = Claim("removed-facts", "Removed facts",
                  "A fine-tuned model goes out of date: a fact removed from the knowledge base (a discontinued "
                  "product, a withdrawn policy) is still asserted until the model is retrained; RAG stops at once.")
    r = results.removed_facts
    if not r or not r.get("modes"):
        return claim
    metric = r.get("metric", "answer_recall")
    rows = {m: {k: _est(e) for k, e in row.items()} for m, row in r["modes"].items()}
    for m, row in rows.items():
        text = (f"{m}: asserts the removed fact {fmt.pct(metric, row.get('before'))} before the deletion, "
                f"{fmt.pct(metric, row.get('after_delete'))} after it")
        if row.get("after_retrain") is not None:
            text += f", {fmt.pct(metric, row['after_retrain'])} after retraining without it"
        claim.evidence.append(text + ".")
    claim.evidence.append(f"{r['n']} documents deleted in {fmt.seconds(r.get('delete_s'))} "
                          f"({r.get('chunks_deleted', 0)} chunks).")
    ft = rows.get("ft", {})
    rag = rows.get("rag", {})
    if ft.get("before") is not None and ft["before"].value == 0:
        claim.evidence.append("The ft model never asserted these facts before the deletion: it had not learned them.")
    verdict, needed = removed_facts_rule(ft.get("after_delete"), rag.get("after_delete"))
    if verdict == NOT_DECIDED and needed:
        claim.evidence.append(f"ft vs rag after the deletion is not decided at n={r['n']} (the intervals overlap); "
                              f"about {needed:,} removed facts would decide a difference of this size.")
    claim.evidence.append("Rule: supported when, after the deletion, the share of removed facts ft still asserts is "
                          "clearly above rag's (the 95% intervals do not overlap); contradicted when clearly below; "
                          "not decided when they overlap.")
    claim.verdict = verdict
    return claim
