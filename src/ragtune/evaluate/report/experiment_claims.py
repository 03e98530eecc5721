"""The claims checked by their own experiments: learning curve, knowledge-base quality, versatility, removed facts.

Each verdict is a small function of the numbers (``*_rule``, tested on fixed ones); the claim
card quotes the rule beside the evidence. The experiments' numbers come in ``ComparisonResults``
(``learning_curve``, ``kb_quality``, ``versatility``, ``removed_facts``) as plain dicts.
"""

from __future__ import annotations

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.report.verdicts import (
    CONTRADICTED,
    NOT_DECIDED,
    NOT_MEASURED,
    SUPPORTED,
    Claim,
    interval_decision,
)
from ragtune.evaluate.results import ComparisonResults, Estimate
from ragtune.evaluate.stats import needed_words


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
    qa = results.task == "qa"
    unit = "questions" if qa else "labelled texts"
    if not qa:  # rag classifies with labelled texts as demonstrations: it needs labels, but no training
        claim.claim = "Fine-tuning needs a lot of high-quality, task-specific data; prompting needs no training."
    flat = {m: _est(e) for m, e in lc.get("flat", {}).items()}
    if flat:
        lead = "No labelled data" if qa else "No training"
        shown = ", ".join(f"{m} {fmt.estimate(metric, e)}" for m, e in flat.items())
        claim.evidence.append(f"{lead}: {shown} {label} (flat lines).")
    by_mode: dict[str, list[dict]] = {}
    for p in lc["points"]:
        by_mode.setdefault(p["mode"], []).append(p)
    for mode, pts in by_mode.items():
        claim.evidence.append(f"{mode}: " + "; ".join(
            f"{100 * p['fraction']:g}% ({p['n_train']} {unit}) {fmt.estimate(metric, _est(p['score']))}"
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
                              f"of the data ({catch['n_train']} {'labelled questions' if qa else unit})." if catch else
                              f"{best} does not catch up with rag at any share, up to {pts[-1]['n_train']} "
                              f"{'labelled questions' if qa else unit}.")
    if len(pts) > 1:
        claim.evidence.append(f"From {pts[0]['n_train']} to {pts[-1]['n_train']} training {unit} {best} changed "
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
    sign, needed = interval_decision(ft_after, rag_after)
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
                              f"{needed_words(needed, 'removed facts')}.")
    claim.evidence.append("Rule: supported when, after the deletion, the share of removed facts ft still asserts is "
                          "clearly above rag's (the 95% intervals do not overlap); contradicted when clearly below; "
                          "not decided when they overlap.")
    claim.verdict = verdict
    return claim
