"""``ragtune report``: render again the report of a past comparison, or export its answers (``--ragas``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ragtune.cli.common import console, print_json, settings_from
from ragtune.evaluate.compare import rerender
from ragtune.evaluate.export_ragas import write_ragas
from ragtune.evaluate.store import load_results


def report(ctx: typer.Context, run_id: str = typer.Argument(..., help="The comparison's run id."),
           ragas: Path = typer.Option(None, "--ragas", help="Instead, write every answer (one row per mode and "
                                      "question: question, answer, contexts, ground_truth) to this JSONL file, "
                                      "a dataset RAGAS and other evaluation tools read."),
           as_json: bool = typer.Option(False, "--json", help="Print the paths written as JSON.")):
    """Re-render the report (HTML, Markdown, results.json) of a past comparison, or export its answers."""
    s = settings_from(ctx)
    if ragas:
        res = load_results(s, run_id)
        n = write_ragas(res, ragas)
        if as_json:
            return print_json({"run_id": res.run_id, "ragas": str(ragas), "rows": n, "modes": res.mode_names})
        console.print(f"ragas: {n} answers ({len(res.mode_names)} modes) in {ragas}", markup=False,
                      highlight=False, soft_wrap=True)
        return
    paths = rerender(s, run_id)
    if as_json:
        html = paths.get("html")
        return print_json({"run_id": html.parent.name if html else run_id,
                           "report": {k: str(v) for k, v in paths.items()}})
    console.print(f"report: {paths.get('html')}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
