"""report.html: one self-contained page (inline CSS, inline PNG charts, no scripts, no URLs).

Every piece of run data goes through ``esc()``: HTML-escaped, and with "://" written as an
entity so the file never holds a literal URL (answers quoting web addresses included) and a
grep for "http://" can prove the page loads nothing from elsewhere.
"""

from __future__ import annotations

import html
import random
from importlib import resources

from ragtune.evaluate.metrics import METRICS, metric_info
from ragtune.evaluate.recommend import Recommendation
from ragtune.evaluate.report import charts
from ragtune.evaluate.report import format as fmt
from ragtune.evaluate.report.claims import Claim
from ragtune.evaluate.results import ComparisonResults, ItemRecord, ModeCosts

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


def esc(value: object) -> str:
    """HTML-escape ``value`` and defang "://" so no URL appears literally in the file."""
    return html.escape(str(value), quote=True).replace("://", ":&#47;&#47;")


def _css() -> str:
    return resources.files("ragtune.evaluate.report").joinpath("style.css").read_text(encoding="utf-8")


def _section(key: str, body: str, intro: str = "") -> str:
    lead = f"<p class=\"muted\">{intro}</p>" if intro else ""
    return f"<section id=\"{key}\">\n<h2>{SECTIONS[key]}</h2>\n{lead}{body}\n</section>\n"


def _chart(uri: str | None, alt: str) -> str:
    return f"<img class=\"chart\" src=\"{uri}\" alt=\"{esc(alt)}\">" if uri else ""


def _fam(results: ComparisonResults, mode: str) -> str:
    family = results.mode(mode).family if mode in results.mode_names else "base"
    return f"<span class=\"fam fam-{esc(family)}\" title=\"{esc(family)}\"></span>"


_CITE_HOW = {"model": " (cited by the model)", "attributed": " (attributed)",
             "unsupported": " (cited by the model, does not support the answer)"}


def _marked(text: str, spans) -> str:
    """The passage, escaped, with its supporting spans in <mark>."""
    out, at = [], 0
    for start, end in sorted(tuple(sp) for sp in spans or []):
        if start < at:
            continue
        out += [esc(text[at:start]), f"<mark>{esc(text[start:end])}</mark>"]
        at = end
    return "".join(out) + esc(text[at:])


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


def _summary(results: ComparisonResults) -> str:
    metrics = summary_metrics(results)
    best = _best_per_column(results, metrics)
    head = "".join(f"<th title=\"{esc(metric_info(m).meaning)}\">{esc(metric_info(m).label)}</th>"
                   for m in metrics)
    rows = []
    for mode in results.modes:
        cells = []
        for metric in metrics:
            est = results.metric(mode.name, metric)
            ci = (f"<br><span class=\"ci\">[{fmt.value(metric, est.lo)}, {fmt.value(metric, est.hi)}]</span>"
                  if est is not None and est.has_ci else "")
            cls = " class=\"best\"" if best.get(metric) == mode.name else ""
            cells.append(f"<td{cls}>{esc(fmt.value(metric, est.value if est else None))}{ci}</td>")
        n = max((e.n for e in results.metrics.get(mode.name, {}).values()), default=0)
        rows.append(f"<tr><td>{_fam(results, mode.name)}{esc(mode.name)}</td><td>{esc(mode.family)}</td>"
                    f"<td>{n}</td>{''.join(cells)}</tr>")
    table = ("<div class=\"scroll\"><table><thead><tr><th>mode</th><th>family</th><th>n</th>"
             f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    intro = ("Scores out of 100 with their 95% bootstrap interval; latency in ms. Bold marks the best mode "
             f"per column. Primary metric: {esc(metric_info(results.primary_metric).label)}.")
    return _section("summary", table, intro)


def _recommendation(rec: Recommendation) -> str:
    reasons = "".join(f"<li>{esc(r)}</li>" for r in rec.reasons)
    mode = f" <span class=\"muted\">(best mode: {esc(rec.best_mode)})</span>" if rec.best_mode else ""
    body = (f"<div class=\"recommendation\"><p><span class=\"choice\">{esc(rec.choice)}</span>{mode}</p>"
            f"<ol>{reasons}</ol></div>")
    return _section("recommendation", body, "Derived from the measured numbers by the documented rules "
                    "of ragtune.evaluate.recommend; each reason quotes the numbers it used.")


def _merged(c: ModeCosts) -> str:
    """A merged model's size; a float folder is labelled, it does not compare with a quantised base file."""
    if c.merged_bytes is None and c.merged_float_bytes:
        return f"{fmt.nbytes(c.merged_float_bytes)} (float folder; the base column is the quantised file)"
    return fmt.nbytes(c.merged_bytes)


def _costs(results: ComparisonResults, uri: str | None) -> str:
    rows = []
    for mode, c in results.costs.items():
        rows.append(
            f"<tr><td>{esc(mode)}</td><td>{esc(fmt.seconds(c.setup_s))}</td>"
            f"<td>{esc(fmt.nbytes(c.base_model_bytes))}</td><td>{esc(fmt.nbytes(c.adapter_bytes))}</td>"
            f"<td>{esc(_merged(c))}</td><td>{esc(fmt.nbytes(c.index_bytes))}</td>"
            f"<td>{esc(f'{c.peak_memory_mb:,.0f}' if c.peak_memory_mb else 'n/a')}</td>"
            f"<td>{esc(f'{c.tokens_per_s:.1f}' if c.tokens_per_s else 'n/a')}</td></tr>")
    table = ("<div class=\"scroll\"><table><thead><tr><th>mode</th><th>set-up</th><th>base model</th>"
             "<th>adapter</th><th>merged</th><th>index</th><th>peak MB</th><th>tokens/s</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div>")
    return _section("costs", _chart(uri, "size on disk and set-up time per mode") + table,
                    "What each mode stores beside the base model and how long it took to build.")


def _freshness(results: ComparisonResults, uri: str | None) -> str:
    rows = []
    for f in results.freshness:
        cells = [fmt.estimate(f.metric, f.new_before), fmt.estimate(f.metric, f.new_after),
                 fmt.estimate(f.metric, f.old_after), fmt.seconds(f.update_s), fmt.seconds(f.retrain_s),
                 fmt.estimate(f.metric, f.new_after_retrain)]
        rows.append(f"<tr><td>{esc(f.mode)}</td><td>{f.n}</td>" + "".join(f"<td>{esc(c)}</td>" for c in cells)
                    + "</tr>")
    table = ("<div class=\"scroll\"><table><thead><tr><th>mode</th><th>n</th><th>new, before</th>"
             "<th>new, after update</th><th>old, after update</th><th>update time</th><th>retrain time</th>"
             f"<th>new, after retrain</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    metric = results.freshness[0].metric
    intro = ("Built on the old facts, then the knowledge base was updated with the new ones. Accuracy is "
             f"{esc(metric_info(metric).label)} out of 100: on the new answers, and how often the old "
             "(now wrong) answer is still given.")
    return _section("freshness", _chart(uri, "new-fact accuracy before and after the update") + table, intro)


def _retrieval(results: ComparisonResults) -> str:
    names = list(dict.fromkeys(k for r in results.retrieval for k in r.metrics))
    head = "".join(f"<th>{esc(n)}</th>" for n in names)
    rows = []
    for r in results.retrieval:
        cells = "".join(f"<td>{esc(fmt.estimate(n, r.metrics.get(n)))}</td>" for n in names)
        rows.append(f"<tr><td>{esc(r.retriever)}</td><td>{r.n}</td>{cells}</tr>")
    table = (f"<div class=\"scroll\"><table><thead><tr><th>retriever</th><th>n</th>{head}</tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div>")
    return _section("retrieval", table, "Against the known gold source of each question, out of 100.")


def _confusion(results: ComparisonResults) -> str:
    parts = []
    for mode, detail in results.classification.items():
        head = "".join(f"<th>{esc(label)}</th>" for label in detail.labels)
        rows = []
        for label, row in zip(detail.labels, detail.matrix, strict=True):
            total = sum(row) or 1
            cells = "".join(
                f"<td style=\"background: rgba(47,109,181,{0.08 + 0.6 * count / total:.2f})\">{count}</td>"
                if count else "<td>0</td>" for count in row)
            f1 = fmt.value("macro_f1", detail.per_class_f1.get(label))
            rows.append(f"<tr><th>{esc(label)}</th>{cells}<td>{esc(f1)}</td></tr>")
        parts.append(f"<h3>{esc(mode)}</h3><div class=\"scroll\"><table><thead><tr>"
                     f"<th>true \\ predicted</th>{head}<th>F1</th></tr></thead>"
                     f"<tbody>{''.join(rows)}</tbody></table></div>")
    return _section("confusion", "".join(parts), "Rows are the true labels, columns the predicted ones; "
                    "the last column is each class's F1 out of 100.")


def _claims(claims: list[Claim]) -> str:
    parts = []
    for c in claims:
        verdict = esc(c.verdict)
        evidence = "".join(f"<li>{esc(e)}</li>" for e in c.evidence) or "<li>Not measured in this run.</li>"
        parts.append(f"<div class=\"claim\" id=\"claim-{esc(c.key)}\"><h3>{esc(c.topic)}"
                     f"<span class=\"verdict verdict-{verdict.replace(' ', '-')}\">{verdict}</span></h3>"
                     f"<p><em>Claim:</em> {esc(c.claim)}</p><ul>{evidence}</ul></div>")
    return _section("key-differences", "".join(parts), "Each claim of the RAG-versus-fine-tuning debate, "
                    "checked against this run's numbers.")


def sample_item_ids(results: ComparisonResults, size: int) -> list[str]:
    """A seeded sample of item ids, in their original order, for the side-by-side answers."""
    ids = list(dict.fromkeys(it.item_id for it in results.items))
    if len(ids) <= size:
        return ids
    chosen = set(random.Random(results.seed).sample(ids, size))
    return [i for i in ids if i in chosen]


def _answer_card(results: ComparisonResults, it: ItemRecord) -> str:
    shown = [m for m in ("token_f1", "answer_recall", "supported_token_share", "exact_match")
             if m in it.scores]
    scores = " · ".join(f"{metric_info(m).label} {fmt.value(m, it.scores[m])}" for m in shown)
    if results.task == "classification":
        ok = it.references and str(it.prediction) == str(it.references[0])
        verdict = "<span class=\"ok\">right</span>" if ok else "<span class=\"bad\">wrong</span>"
        scores = f"{verdict}{' · ' + scores if scores else ''}"
    if it.latency_ms is not None:
        scores += f" · {it.latency_ms:,.0f} ms"
    cites = []
    for c in it.citations:
        text = c.text or next((r.text for r in it.retrieved if r.chunk_id == c.chunk_id), "")
        mark = _CITE_HOW.get(getattr(c, "method", ""), "" if c.cited else " (not cited)")
        cites.append(f"<li value=\"{int(c.number)}\"><details><summary>{esc(c.source or c.chunk_id)}{mark}"
                     f"</summary><pre>{_marked(text, getattr(c, 'spans', []))}</pre></details></li>")
    cite_html = f"<ol>{''.join(cites)}</ol>" if cites else ""
    retrieved = ""
    if it.retrieved and not it.citations:
        rows = "".join(f"<li><details><summary>{esc(r.source or r.chunk_id)}"
                       f"{'' if r.score is None else f' ({r.score:.3f})'}</summary>"
                       f"<pre>{esc(r.text)}</pre></details></li>" for r in it.retrieved)
        retrieved = f"<p class=\"scores\">retrieved:</p><ol>{rows}</ol>"
    prompt = (f"<details><summary>prompt</summary><pre>{esc(it.prompt)}</pre></details>" if it.prompt else "")
    return (f"<div class=\"answer\"><h4>{_fam(results, it.mode)}{esc(it.mode)}</h4>"
            f"<p>{esc(it.prediction)}</p><p class=\"scores\">{scores}</p>"
            f"{cite_html}{retrieved}{prompt}</div>")


def _answers(results: ComparisonResults, size: int) -> str:
    by_id: dict[str, list[ItemRecord]] = {}
    for it in results.items:
        by_id.setdefault(it.item_id, []).append(it)
    order = {m: i for i, m in enumerate(results.mode_names)}
    parts = []
    for item_id in sample_item_ids(results, size):
        records = sorted(by_id[item_id], key=lambda r: order.get(r.mode, 99))
        first = records[0]
        gold_label = "True label" if results.task == "classification" else "Gold"
        gold = " | ".join(esc(r) for r in first.references)
        cards = "".join(_answer_card(results, r) for r in records)
        parts.append(f"<article class=\"qa\"><h3>{esc(first.question)}</h3>"
                     f"<p class=\"muted\">{gold_label}: {gold} · id {esc(item_id)}</p>"
                     f"<div class=\"answers-grid\">{cards}</div></article>")
    n = len(dict.fromkeys(it.item_id for it in results.items))
    return _section("answers", "".join(parts), f"{len(parts)} of {n} test items, drawn with the run's seed; "
                    "every answer is in results.json.")


def _glossary(results: ComparisonResults) -> str:
    metrics = summary_metrics(results)
    rows = "".join(f"<dt>{esc(metric_info(m).label)} <code>{esc(m)}</code></dt>"
                   f"<dd>{esc(metric_info(m).meaning)}</dd>" for m in metrics)
    return _section("glossary", f"<dl class=\"glossary\">{rows}</dl>")


def _header(results: ComparisonResults, present: list[str]) -> str:
    m = results.machine
    cores = f"{m['cpu_count']} cores" if m.get("cpu_count") else None
    memory = f"{m['memory_gb']} GB RAM" if m.get("memory_gb") else None
    machine = ", ".join(str(x) for x in (m.get("platform"), cores, memory) if x)
    n = len(dict.fromkeys(it.item_id for it in results.items))
    nav = "".join(f"<a href=\"#{k}\">{SECTIONS[k]}</a>" for k in present)
    notes = "".join(f"<p class=\"muted\">{esc(note)}</p>" for note in results.notes)
    return (f"<header><h1>ragtune comparison: {esc(results.name)}</h1>"
            f"<p class=\"meta\">run {esc(results.run_id)} · {esc(results.task)} · {n} test items · "
            f"{len(results.modes)} modes · seed {results.seed} · {esc(results.created)}<br>{esc(machine)}</p>"
            f"{notes}<nav>{nav}</nav></header>")


def render_html(results: ComparisonResults, rec: Recommendation, claims: list[Claim],
                sample_size: int = 12) -> str:
    """The whole page as a string; sections without data in this run are left out."""
    body: dict[str, str] = {"summary": _summary(results), "recommendation": _recommendation(rec)}
    uri = charts.accuracy_chart(results)
    if uri:
        body["accuracy"] = _section("accuracy", _chart(uri, "task metrics per mode with 95% intervals"),
                                    "Bars are the mean over the test items; whiskers the 95% bootstrap "
                                    "interval.")
    uri = charts.latency_chart(results)
    if uri:
        body["latency"] = _section("latency", _chart(uri, "latency per answer"),
                                   "Per-answer latency: box from p25 to p75, line at the median.")
    if results.costs:
        body["costs"] = _costs(results, charts.cost_chart(results))
    if results.freshness:
        body["freshness"] = _freshness(results, charts.freshness_chart(results))
    if results.retrieval:
        body["retrieval"] = _retrieval(results)
    if results.classification:
        body["confusion"] = _confusion(results)
    body["key-differences"] = _claims(claims)
    if results.items:
        body["answers"] = _answers(results, sample_size)
    body["glossary"] = _glossary(results)
    present = [k for k in SECTIONS if k in body]
    head = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>ragtune: {esc(results.name)}</title>\n<style>\n{_css()}</style>\n</head>\n")
    sections = "".join(body[k] for k in present)
    return f"{head}<body>\n<main>\n{_header(results, present)}\n{sections}</main>\n</body>\n</html>\n"
