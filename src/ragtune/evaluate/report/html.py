"""report.html: one self-contained page (inline CSS, inline PNG charts, no scripts, no URLs).

The page is the Jinja2 template ``templates/report.html.j2`` (one macro file per kind of
section beside it); this module only prepares the data. Every value the template prints goes
through ``esc()`` (the environment's ``finalize``): HTML-escaped, and with "://" written as an
entity so the file never holds a literal URL (answers quoting web addresses included) and a grep
for "http://" can prove the page loads nothing from elsewhere.
"""

from __future__ import annotations

import html
import math
import os
import random
from functools import cache
from importlib import resources
from pathlib import PurePath
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.metrics import METRICS, metric_info
from ragtune.evaluate.recommend import Recommendation
from ragtune.evaluate.report import charts
from ragtune.evaluate.report.caveats import small_run_warning, test_items
from ragtune.evaluate.report.claims import Claim
from ragtune.evaluate.report.palette import mode_colors
from ragtune.evaluate.results import ComparisonResults, Estimate, ItemRecord, ModeCosts

SECTIONS = {
    "summary": "Summary",
    "recommendation": "Recommendation",
    "accuracy": "Accuracy",
    "latency": "Latency",
    "costs": "Size and cost",
    "freshness": "Freshness",
    "retrieval": "Retrieval quality",
    "confusion": "Confusion matrices",
    "key-differences": "Key differences",
    "answers": "Sample answers",
    "glossary": "What each number means",
}
_SCORE_ORDER = list(METRICS)
_CITE_HOW = {"model": " (cited by the model)", "attributed": " (attributed)",
             "unsupported": " (cited by the model, does not support the answer)"}
CARD_SCORES = ("token_f1", "answer_recall", "supported_token_share", "exact_match")


def esc(value: object) -> str:
    """HTML-escape ``value`` and defang "://" so no URL appears literally in the file."""
    return html.escape(str(value), quote=True).replace("://", ":&#47;&#47;")


def _finalize(value: Any) -> Any:
    """Every ``{{ }}`` of the template: Markup passes (already escaped here), anything else is ``esc``-ed."""
    if isinstance(value, Markup):
        return Markup(str(value).replace("://", ":&#47;&#47;"))
    return Markup(esc("" if value is None else value))


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("ragtune.evaluate.report", "templates"), autoescape=True,
                       finalize=_finalize, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def _css() -> str:
    return resources.files("ragtune.evaluate.report").joinpath("style.css").read_text(encoding="utf-8")


def _marked(text: str, spans) -> Markup:
    """The passage, escaped, with its supporting spans in <mark>."""
    out, at = [], 0
    for start, end in sorted(tuple(sp) for sp in spans or []):
        if start < at:
            continue
        out += [esc(text[at:start]), f"<mark>{esc(text[start:end])}</mark>"]
        at = end
    return Markup("".join(out) + esc(text[at:]))


def summary_metrics(results: ComparisonResults) -> list[str]:
    """The metric columns of the summary table, in glossary order, then any others."""
    seen = {k for table in results.metrics.values() for k in table}
    known = [m for m in _SCORE_ORDER if m in seen]
    return known + sorted(seen - set(known))


def _best_per_column(results: ComparisonResults, metrics: list[str]) -> dict[str, str]:
    """The one mode with the best value of each metric; none on ties or for descriptive metrics."""
    best: dict[str, str] = {}
    for metric in metrics:
        direction = metric_info(metric).higher_is_better
        scored = [(m, e.value) for m in results.mode_names if (e := results.metric(m, metric)) is not None]
        if len(scored) < 2 or direction is None:
            continue
        top = (max if direction else min)(v for _, v in scored)
        winners = [m for m, v in scored if v == top]
        if len(winners) == 1:
            best[metric] = winners[0]
    return best


def _summary(results: ComparisonResults) -> dict[str, Any]:
    metrics = summary_metrics(results)
    best = _best_per_column(results, metrics)
    rows = []
    for mode in results.modes:
        cells = []
        for metric in metrics:
            est = results.metric(mode.name, metric)
            cells.append({"value": fmt.value(metric, est.value if est else None), "best": best.get(metric) == mode.name,
                          "ci": ("(all alike: no interval)" if est is not None and est.zero_width
                                 else f"[{fmt.value(metric, est.lo)}, {fmt.value(metric, est.hi)}]"
                                 if est is not None and est.has_ci else "")})
        n = max((e.n for e in results.metrics.get(mode.name, {}).values()), default=0)
        rows.append({"mode": mode.name, "family": mode.family, "n": n, "cells": cells})
    return {"columns": [{"label": metric_info(m).label, "meaning": metric_info(m).meaning} for m in metrics],
            "rows": rows, "primary": metric_info(results.primary_metric).label}


def _merged(c: ModeCosts) -> str:
    """A merged model's size; a float folder is labelled, it does not compare with a quantised base file."""
    if c.merged_bytes is None and c.merged_float_bytes:
        return f"{fmt.nbytes(c.merged_float_bytes)} (float folder; the base column is the quantised file)"
    return fmt.nbytes(c.merged_bytes)


def _costs(results: ComparisonResults) -> list[list[str]]:
    return [[mode, fmt.seconds(c.setup_s), fmt.nbytes(c.base_model_bytes), fmt.nbytes(c.adapter_bytes), _merged(c),
             fmt.nbytes(c.index_bytes), f"{c.peak_memory_mb:,.0f}" if c.peak_memory_mb else "n/a",
             f"{c.tokens_per_s:.1f}" if c.tokens_per_s else "n/a"] for mode, c in results.costs.items()]


def _freshness(results: ComparisonResults) -> list[list[Any]]:
    return [[f.mode, f.n, fmt.estimate(f.metric, f.new_before), fmt.estimate(f.metric, f.new_after),
             fmt.estimate(f.metric, f.old_after), fmt.seconds(f.update_s), fmt.seconds(f.retrain_s),
             fmt.estimate(f.metric, f.new_after_retrain)] for f in results.freshness]


def _retrieval(results: ComparisonResults) -> dict[str, Any]:
    names = list(dict.fromkeys(k for r in results.retrieval for k in r.metrics))
    rows = [[r.retriever, r.n] + [fmt.estimate(n, r.metrics.get(n)) for n in names] for r in results.retrieval]
    return {"names": names, "rows": rows}


def _confusion(results: ComparisonResults) -> list[dict[str, Any]]:
    out = []
    for mode, detail in results.classification.items():
        rows = []
        for label, row in zip(detail.labels, detail.matrix, strict=True):
            total = sum(row) or 1
            cells = [{"count": c, "alpha": f"{0.08 + 0.6 * c / total:.2f}" if c else ""} for c in row]
            rows.append({"label": label, "cells": cells, "f1": fmt.value("macro_f1", detail.per_class_f1.get(label))})
        out.append({"mode": mode, "labels": detail.labels, "rows": rows})
    return out


def sample_item_ids(results: ComparisonResults, size: int) -> list[str]:
    """A seeded sample of item ids, in their original order, for the side-by-side answers."""
    ids = list(dict.fromkeys(it.item_id for it in results.items))
    if len(ids) <= size:
        return ids
    chosen = set(random.Random(results.seed).sample(ids, size))
    return [i for i in ids if i in chosen]


def source_root(results: ComparisonResults) -> str:
    """The folder every cited or retrieved source path of the run lies under ("" when they share none)."""
    paths = {s for it in results.items for s in [*(c.source for c in it.citations), *(r.source for r in it.retrieved)]
             if s and os.path.isabs(s)}
    if not paths:
        return ""
    try:
        root = os.path.commonpath(sorted(paths))
    except ValueError:  # paths on different drives
        return ""
    return os.path.dirname(root) if root in paths else root


def short_source(source: str, root: str) -> str:
    """A source as the card shows it: relative to the run's common folder, or just its file name."""
    if root and source.startswith(root.rstrip(os.sep) + os.sep):
        return source[len(root.rstrip(os.sep)) + 1:]
    return PurePath(source).name or source


def _card(results: ComparisonResults, it: ItemRecord, root: str) -> dict[str, Any]:
    scores = [f"{metric_info(m).label} {fmt.value(m, it.scores[m])}" for m in CARD_SCORES if m in it.scores]
    verdict = None
    if results.task == "classification":
        verdict = bool(it.references and str(it.prediction) == str(it.references[0]))
    if it.latency_ms is not None:
        scores.append(f"{it.latency_ms:,.0f} ms")
    cites = []
    for c in it.citations:
        text = c.text or next((r.text for r in it.retrieved if r.chunk_id == c.chunk_id), "")
        full = c.source or c.chunk_id
        cites.append({"number": int(c.number), "full": full, "short": short_source(full, root),
                      "how": _CITE_HOW.get(getattr(c, "method", ""), "" if c.cited else " (not cited)"),
                      "text": _marked(text, getattr(c, "spans", []))})
    retrieved = []
    if it.retrieved and not it.citations:
        for r in it.retrieved:
            full = r.source or r.chunk_id
            retrieved.append({"full": full, "short": short_source(full, root), "text": r.text,
                              "score": "" if r.score is None else f" ({r.score:.3f})"})
    return {"mode": it.mode, "prediction": it.prediction, "scores": " · ".join(scores), "verdict": verdict,
            "citations": cites, "retrieved": retrieved, "prompt": it.prompt or ""}


def grid_columns(n_modes: int) -> int:
    """Cards per row: all modes in one row up to five, else rows as even as can be (6 -> 3+3, 7 -> 4+3)."""
    return n_modes if n_modes <= 5 else math.ceil(n_modes / math.ceil(n_modes / 4))


def _answers(results: ComparisonResults, size: int) -> dict[str, Any]:
    by_id: dict[str, list[ItemRecord]] = {}
    for it in results.items:
        by_id.setdefault(it.item_id, []).append(it)
    order = {m: i for i, m in enumerate(results.mode_names)}
    root = source_root(results)
    questions = []
    for item_id in sample_item_ids(results, size):
        records = sorted(by_id[item_id], key=lambda r: order.get(r.mode, 99))
        first = records[0]
        questions.append({"id": item_id, "question": first.question, "gold": " | ".join(map(str, first.references)),
                          "cards": [_card(results, r, root) for r in records]})
    return {"questions": questions, "total": test_items(results), "root": root,
            "gold_label": "True label" if results.task == "classification" else "Gold",
            "cols": grid_columns(len(results.modes))}


def _clearly(e: Estimate | None) -> int:
    """+1 / -1 when a paired difference's 95% interval lies above / below 0; 0 when it includes 0 (or is missing)."""
    if e is None or not e.has_ci:
        return 0
    return 1 if e.lo > 0 else -1 if e.hi < 0 else 0


def catch_up(results: ComparisonResults) -> str:
    """Where, if anywhere, each fine-tuned mode of the learning curve catches up with rag, from its paired
    differences to rag (``vs_rag``): the smallest share from which on it is never clearly below rag."""
    lc = results.learning_curve or {}
    if not lc.get("points"):
        return ""
    metric, unit = lc["metric"], "texts" if results.task == "classification" else "questions"
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for p in lc["points"]:
        by_mode.setdefault(p["mode"], []).append(p)
    if not any(p.get("vs_rag") for p in lc["points"]):
        return "rag was not run on these test items, so there is no rag line for fine-tuning to catch up with."

    def share(p: dict[str, Any]) -> str:
        return f"{100 * p['fraction']:g}% of the training data ({p['n_train']} labelled {unit})"

    parts = []
    for mode, pts in by_mode.items():
        diffs = [Estimate.from_dict(p.get("vs_rag")) for p in pts]
        signs = [_clearly(d) for d in diffs]
        start = next((i for i in range(len(pts)) if all(s >= 0 for s in signs[i:])), None)
        if start is None:
            parts.append(f"{mode} does not catch up: with {share(pts[-1])} it is still clearly below rag "
                         f"({fmt.diff(metric, diffs[-1])})")
            continue
        state = "clearly above" if signs[start] > 0 else "level with"
        text = (f"{mode} is {state} rag already at the smallest share, {share(pts[0])}" if start == 0 else
                f"{mode} catches up at {share(pts[start])}: from there on it is no longer clearly below rag")
        text += f" ({fmt.diff(metric, diffs[start])})"
        above = next((i for i in range(start + 1, len(pts)) if signs[i] > 0 and signs[start] == 0), None)
        if above is not None:
            text += f", and clearly above it at {share(pts[above])} ({fmt.diff(metric, diffs[above])})"
        parts.append(text)
    return (f"Where fine-tuning catches up with rag ({metric_info(metric).label}, each share minus rag, paired on "
            f"the same {lc['n_test']} test {unit}, 95% interval): " + "; ".join(parts) + ".")


def _learning_curve(results: ComparisonResults) -> dict[str, str]:
    lc = results.learning_curve or {}
    flat = " and ".join(lc.get("flat", {}))
    return {"alt": f"Learning curve: {metric_info(lc['metric']).label} of each fine-tuned mode "
                   "against its labelled training data, with 95% intervals"
                   + (f"; {flat} as flat lines" if flat else ""),
            "catch_up": catch_up(results)}


def _machine(results: ComparisonResults) -> str:
    m = results.machine
    cores = f"{m['cpu_count']} cores" if m.get("cpu_count") else None
    memory = f"{m['memory_gb']} GB RAM" if m.get("memory_gb") else None
    return ", ".join(str(x) for x in (m.get("platform"), cores, memory) if x)


def render_html(results: ComparisonResults, rec: Recommendation, claims: list[Claim],
                sample_size: int = 12) -> str:
    """The whole page as a string; sections without data in this run are left out."""
    charts_: dict[str, str | None] = {"accuracy": charts.accuracy_chart(results),
                                      "latency": charts.latency_chart(results),
                                      "costs": charts.cost_chart(results) if results.costs else None,
                                      "freshness": charts.freshness_chart(results) if results.freshness else None,
                                      "learning_curve": charts.learning_curve_chart(results)}
    has = {"summary": True, "recommendation": True, "accuracy": bool(charts_["accuracy"]),
           "latency": bool(charts_["latency"]), "costs": bool(results.costs), "freshness": bool(results.freshness),
           "retrieval": bool(results.retrieval), "confusion": bool(results.classification),
           "key-differences": True, "answers": bool(results.items), "glossary": True}
    present = [k for k in SECTIONS if has[k]]
    colors = mode_colors(results)
    context = {
        "r": results, "rec": rec, "claims": claims, "sections": SECTIONS, "present": present,
        "charts": charts_, "css": Markup(_css()), "machine": _machine(results), "n_items": test_items(results),
        "warning": small_run_warning(results), "colors": colors,
        "family": {m.name: m.family for m in results.modes},
        "summary": _summary(results),
        "costs": _costs(results) if has["costs"] else [],
        "freshness": _freshness(results) if has["freshness"] else [],
        "freshness_metric": metric_info(results.freshness[0].metric).label if has["freshness"] else "",
        "retrieval": _retrieval(results) if has["retrieval"] else None,
        "confusion": _confusion(results) if has["confusion"] else [],
        "answers": _answers(results, sample_size) if has["answers"] else None,
        "glossary": [(metric_info(m).label, m, metric_info(m).meaning) for m in summary_metrics(results)],
        "learning_curve": _learning_curve(results) if charts_["learning_curve"] else None,
    }
    return _env().get_template("report.html.j2").render(**context)
