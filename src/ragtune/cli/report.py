"""``ragtune report``: render again the report of a past comparison from its results.json."""

from __future__ import annotations

import typer

from ragtune.cli.common import console, print_json, settings_from
from ragtune.evaluate.compare import rerender


def report(ctx: typer.Context, run_id: str = typer.Argument(..., help="The comparison's run id."),
           as_json: bool = typer.Option(False, "--json", help="Print the paths written as JSON.")):
    """Re-render the report (HTML, Markdown, results.json) of a past comparison."""
    paths = rerender(settings_from(ctx), run_id)
    if as_json:
        html = paths.get("html")
        return print_json({"run_id": html.parent.name if html else run_id,
                           "report": {k: str(v) for k, v in paths.items()}})
    console.print(f"report: {paths.get('html')}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
