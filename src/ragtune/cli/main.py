"""The ``ragtune`` command: one sub-app per noun. Errors a user can fix print one line, exit non-zero."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer
from rich.markup import escape

from ragtune import __version__
from ragtune.cli import ask as ask_cmd
from ragtune.cli import delete as delete_cmd
from ragtune.cli import kb as kb_cmd
from ragtune.cli import runs as runs_cmd
from ragtune.cli.common import console, err, print_json, settings_from
from ragtune.errors import RagtuneError
from ragtune.registry import list_models

app = typer.Typer(
    name="ragtune",
    help="RAG and fine-tuning for one language model, side by side, measured. Nothing is downloaded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ragtune {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Path = typer.Option(None, "--config", "-c", help="Settings file (default: ./ragtune.toml if present).",
                                envvar="RAGTUNE_CONFIG"),
    overrides: list[str] = typer.Option(None, "--set", help="Override a setting: section.field=value (repeatable)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where knowledge bases, models and runs live "
                                  "(default .ragtune)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
):
    ctx.obj = {"config": config, "overrides": overrides or [], "data_dir": str(data_dir) if data_dir else None}


app.add_typer(kb_cmd.app, name="kb")
app.command("ingest")(kb_cmd.ingest)
app.command("delete")(delete_cmd.delete)
app.command("search")(kb_cmd.search)
app.command("ask")(ask_cmd.ask)
app.add_typer(runs_cmd.app, name="runs")

# Sub-apps whose optional dependencies may be missing register only when they import.
for module, attr, name in [("ragtune.cli.train", "app", "train"), ("ragtune.cli.models", "app", "models"),
                           ("ragtune.cli.compare", "app", None), ("ragtune.cli.report", "app", None),
                           ("ragtune.cli.serve", "app", None),
                           ("ragtune.cli.classify", "app", None)]:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:  # the module itself not written or an extra missing
        if e.name and e.name.startswith("ragtune.cli"):
            continue
        raise
    if name:
        app.add_typer(getattr(mod, attr), name=name)
    else:
        mod.register(app)


@app.command("config")
def show_config(ctx: typer.Context, as_json: bool = typer.Option(True, "--json/--toml", help="Output format.")):
    """Print the effective settings (defaults + ragtune.toml + environment + --set)."""
    s = settings_from(ctx)
    print_json(s.dump())


@app.command("models-available", hidden=True)
def models_available(ctx: typer.Context):
    """List the generators and embedders the registry knows."""
    for m in list_models(settings_from(ctx)):
        console.print(f"{m.name}\t{m.kind}\t{m.path or m.base_url}")


def main() -> None:
    try:
        app()
    except RagtuneError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, markup=True, soft_wrap=True)  # keeps [extra]
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
