"""``ragtune models list|info|delete|export``: the trained models in the data folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from ragtune.cli.common import console, print_json, settings_from
from ragtune.train.artifacts import delete_model, export_model, list_models, load_model_info, model_dir

app = typer.Typer(help="Trained models: list, info, delete, export.", no_args_is_help=True)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Every finished model: recipe, base, weights, final loss, size."""
    models = list_models(settings_from(ctx))
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    if not models:
        console.print("no trained models yet; train one: ragtune train sft --data qa.jsonl --name my-model")
        return
    t = Table("name", "recipe", "task", "base", "weights", "final loss", "size", "created", "exports")
    for m in models:
        loss = m.metrics.get("final_loss")
        t.add_row(m.name, m.recipe, m.task, m.base_model.get("name", ""), m.weights,
                  f"{loss:.4f}" if isinstance(loss, int | float) else "", _size(m.size_bytes),
                  time.strftime("%Y-%m-%d %H:%M", time.localtime(m.created)), ", ".join(m.exports) or "-")
    console.print(t)


@app.command("info")
def info_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Model name.")):
    """Everything recorded about a model (JSON): base, data hash, config, metrics, exports."""
    print_json(load_model_info(settings_from(ctx), name).to_dict())


@app.command("delete")
def delete_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Model name."),
               yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")):
    """Delete a model folder (weights, exports, checkpoints)."""
    settings = settings_from(ctx)
    if not yes and not typer.confirm(f"delete model {name!r} in {model_dir(settings, name)}?"):
        raise typer.Exit(1)
    freed = delete_model(settings, name)
    console.print(f"deleted {name} ({_size(freed)} freed)")


@app.command("export")
def export_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Model name."),
               gguf: bool = typer.Option(True, "--gguf/--no-gguf", help="GGUF LoRA adapter for llama.cpp."),
               merged: bool = typer.Option(False, "--merged", help="Hugging Face folder with the adapter merged."),
               verify: bool = typer.Option(False, "--verify", help="Check llama.cpp applies the GGUF adapter "
                                           "like transformers+PEFT (correlation of the adapter's effect)."),
               ollama: bool = typer.Option(False, "--ollama", help="Also an Ollama Modelfile (GGUF base + adapter, "
                                           "chat template, parameters): ollama create NAME -f Modelfile."),
               ollama_template: Path = typer.Option(None, "--ollama-template", help="With --ollama: a file holding "
                                                    "the Go template, for a chat format ragtune does not know.")):
    """Export a LoRA model for llama.cpp (GGUF adapter), Ollama (Modelfile) or any HF tool (merged folder)."""
    info = export_model(settings_from(ctx), name, gguf=gguf or ollama, merged=merged, verify=verify, ollama=ollama,
                        ollama_template=ollama_template)
    for kind, path in info.exports.items():
        console.print(f"{kind}: {path}")
    check = info.metrics.get("gguf_verify")
    if verify and check:
        ok = "[green]ok[/]" if check["effect_corr"] > 0.9 else "[red]poor[/]"
        console.print(f"adapter effect correlation llama.cpp vs PEFT: {check['effect_corr']:.3f} {ok}, "
                      f"top-1 agreement {check['top1_agreement']:.2f}")
