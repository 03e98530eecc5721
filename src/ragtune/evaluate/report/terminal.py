"""The summary table in the terminal, printed by `ragtune compare` at the end of a run."""

from __future__ import annotations

from typing import Any

from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.report import format as fmt
from ragtune.evaluate.report.html import summary_metrics
from ragtune.evaluate.results import ComparisonResults

TERMINAL_METRICS = ("exact_match", "token_f1", "answer_recall", "supported_token_share",
                    "citation_contains_gold", "accuracy", "macro_f1", "latency_p50_ms")
_FAMILY_STYLE = {"base": "bright_black", "rag": "blue", "fine-tuning": "dark_orange", "both": "green"}


def terminal_metrics(results: ComparisonResults) -> list[str]:
    """The columns of the terminal table: the primary metric first (always), then ``TERMINAL_METRICS``."""
    seen = summary_metrics(results)
    primary = [results.primary_metric] if results.primary_metric in seen else []
    return primary + [m for m in seen if m in TERMINAL_METRICS and m not in primary]


def print_summary(results: ComparisonResults, console: Any = None, recommendation: Any = None) -> None:
    """Print each mode's main metrics (with 95% intervals) and, when given, the advice.

    The terminal gets the primary metric and the metrics that fit a screen (``TERMINAL_METRICS``);
    report.html and summary.md hold the full table.
    """
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{results.name}: {results.task}, primary metric "
                        f"{metric_info(results.primary_metric).label}", show_lines=False)
    table.add_column("mode", no_wrap=True)
    metrics = terminal_metrics(results)
    for m in metrics:
        table.add_column(metric_info(m).label, justify="right")
    for mode in results.modes:
        cells = [fmt.estimate(m, results.metric(mode.name, m)) for m in metrics]
        table.add_row(f"[{_FAMILY_STYLE.get(mode.family, 'white')}]{mode.name}[/]", *cells)
    console.print(table)
    if recommendation is not None:
        console.print(f"[bold]Recommendation: {recommendation.choice}[/bold]"
                      + (f" (best mode: {recommendation.best_mode})" if recommendation.best_mode else ""))
        for reason in recommendation.reasons:
            console.print(f"  - {reason}", markup=False, highlight=False)
