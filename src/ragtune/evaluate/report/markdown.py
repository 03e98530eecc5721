"""summary.md: the summary table, the recommendation and the key differences as Markdown."""

from __future__ import annotations

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.recommend import Recommendation
from ragtune.evaluate.report.claims import Claim
from ragtune.evaluate.report.html import summary_metrics
from ragtune.evaluate.results import ComparisonResults


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_table(results: ComparisonResults) -> str:
    """Every mode against every metric, values with their 95% intervals."""
    metrics = summary_metrics(results)
    lines = ["| mode | family | " + " | ".join(metric_info(m).label for m in metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for mode in results.modes:
        cells = [_cell(fmt.estimate(m, results.metric(mode.name, m))) for m in metrics]
        lines.append(f"| {_cell(mode.name)} | {mode.family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(results: ComparisonResults, rec: Recommendation, claims: list[Claim]) -> str:
    n = len(dict.fromkeys(it.item_id for it in results.items))
    best = f" (best mode: {rec.best_mode})" if rec.best_mode else ""
    out = [f"# ragtune comparison: {results.name}", "",
           f"Run `{results.run_id}`, task {results.task}, {n} test items, seed {results.seed}, "
           f"{results.created}.",
           "Scores are out of 100 with 95% bootstrap intervals; latency in ms.", "",
           "## Summary", "", summary_table(results), "",
           f"## Recommendation: {rec.choice}{best}", ""]
    out += [f"{i}. {r}" for i, r in enumerate(rec.reasons, start=1)]
    out += ["", "## Key differences", ""]
    for c in claims:
        out += [f"### {c.topic}: {c.verdict}", "", f"*Claim:* {c.claim}", ""]
        out += [f"- {e}" for e in c.evidence] or ["- Not measured in this run."]
        out.append("")
    if results.notes:
        out += ["## Notes", ""] + [f"- {note}" for note in results.notes] + [""]
    return "\n".join(out)
