"""``ragtune runs list|show``: the SQLite record of every operation."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from ragtune.cli.common import complete_compare_mode, console, print_json, settings_from
from ragtune.errors import RagtuneError
from ragtune.evaluate.store import load_answers
from ragtune.runlog import RunLog

app = typer.Typer(help="Browse the run log (every ingest, query, training and comparison).", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, kind: str = typer.Option(None, "--kind", help="ingest, ask, delete, train, compare..."),
          limit: int = typer.Option(30, "--limit", "-n", help="How many runs, newest first."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List recent runs."""
    s = settings_from(ctx)
    rows = RunLog(s.data_dir).list(kind, limit)
    if as_json:
        return print_json(rows)
    t = Table("id", "kind", "name", "status", "started", "seconds")
    for r in rows:
        t.add_row(r["id"], r["kind"], r["name"] or "", r["status"],
                  dt.datetime.fromtimestamp(r["started"]).strftime("%Y-%m-%d %H:%M:%S"),
                  f"{r['duration_s']:.2f}" if r["duration_s"] is not None else "-")
    console.print(t)


@app.command("show")
def show(ctx: typer.Context, run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
         answers: bool = typer.Option(False, "--answers", help="For comparisons: list every stored answer."),
         mode: str = typer.Option(None, "--mode", help="With --answers: only this mode.",
                                  autocompletion=complete_compare_mode),
         limit: int = typer.Option(20, "--limit", help="With --answers: how many."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Show one run: its config, library versions, result and metrics."""
    s = settings_from(ctx)
    run = RunLog(s.data_dir).get(run_id)
    if run is None:
        raise RagtuneError(f"no run {run_id!r}; see: ragtune runs list")
    if answers:
        rows = load_answers(s, run["id"], mode=mode, limit=limit)
        if as_json:
            return print_json(rows)
        for r in rows:
            console.rule(f"{r['mode']} · {r['item_id']}")
            console.print(f"[bold]Q[/]: {r['question']}", markup=True, highlight=False)
            console.print(f"[bold]A[/]: {r['prediction']}", highlight=False)
            console.print(f"[dim]gold: {r['references']} · scores: {r['scores']}[/]", highlight=False)
        return
    print_json(run)
