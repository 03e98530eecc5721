"""The summary table in the terminal, printed by `ragtune compare` at the end of a run, then the advice."""

from __future__ import annotations

from typing import Any

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.costs import stage_lines
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.report.caveats import small_run_warning
from ragtune.evaluate.report.html import summary_metrics
from ragtune.evaluate.report.palette import mode_colors
from ragtune.evaluate.results import ComparisonResults

TERMINAL_METRICS = ("exact_match", "token_f1", "answer_recall", "supported_token_share",
                    "citation_contains_gold", "accuracy", "macro_f1", "latency_p50_ms")


def terminal_metrics(results: ComparisonResults) -> list[str]:
    """The columns of the terminal table: the primary metric first (always), then ``TERMINAL_METRICS``."""
    seen = summary_metrics(results)
    primary = [results.primary_metric] if results.primary_metric in seen else []
    return primary + [m for m in seen if m in TERMINAL_METRICS and m not in primary]


def _advice(recommendation: Any) -> tuple[str, str | None, list[str]]:
    """(choice, best mode, reasons) of a Recommendation or of its results.json dict."""
    if isinstance(recommendation, dict):
        return recommendation.get("choice", ""), recommendation.get("best_mode"), recommendation.get("reasons", [])
    return recommendation.choice, recommendation.best_mode, list(recommendation.reasons)


def print_summary(results: ComparisonResults, console: Any = None, recommendation: Any = None) -> None:
    """Print each mode's main metrics (with 95% intervals), then the recommendation and its reasons.

    The terminal gets the primary metric and the metrics that fit a screen (``TERMINAL_METRICS``),
    then each stage's cost and whether the latencies compare (``costs.stage_lines``);
    report.html and summary.md hold the full table. The advice is ``recommendation`` or, when not
    given, the one the report stored in ``results.recommendation``.
    """
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    colors = mode_colors(results)
    table = Table(title=f"{results.name}: {results.task}, primary metric "
                        f"{metric_info(results.primary_metric).label}", show_lines=False)
    table.add_column("mode", no_wrap=True)
    metrics = terminal_metrics(results)
    for m in metrics:
        table.add_column(metric_info(m).label, justify="right")
    for mode in results.modes:
        cells = [fmt.estimate(m, results.metric(mode.name, m)) for m in metrics]
        table.add_row(f"[{colors.get(mode.name, 'white')}]{mode.name}[/]", *cells)
    console.print(table)
    for line in stage_lines(results.stages):  # what each stage cost, and whether the latencies compare
        console.print(line, markup=False, highlight=False)
    recommendation = recommendation if recommendation is not None else results.recommendation
    if recommendation is None:
        return
    choice, best, reasons = _advice(recommendation)
    console.print(f"[bold]Recommendation: {choice}[/bold]" + (f" (best mode: {best})" if best else ""))
    for reason in reasons:
        console.print(f"  - {reason}", markup=False, highlight=False)
    warning = small_run_warning(results)
    if warning:
        console.print(f"[yellow]{warning}[/]", highlight=False)
