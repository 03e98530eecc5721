"""``ragtune classify``: labels from a classifier trained with ``ragtune train classify``."""

from __future__ import annotations

import typer
from rich.table import Table

from ragtune.cli.common import console, print_json, settings_from
from ragtune.errors import ModelNotFoundError
from ragtune.train.artifacts import load_model_info
from ragtune.train.classifier import Classifier


def classify(ctx: typer.Context, texts: list[str] = typer.Argument(..., help="One or more texts to label."),
             model: str = typer.Option(..., "--model", "-m", help="A classifier from `ragtune models list`."),
             as_json: bool = typer.Option(False, "--json", help="Print labels and probabilities as JSON.")):
    """Label texts with a trained classifier (sentiment and the like), with class probabilities."""
    s = settings_from(ctx)
    info = load_model_info(s, model)
    if info.task != "classify":
        raise ModelNotFoundError(f"{model!r} is a {info.task} model, not a classifier; ask it: ragtune ask --mode ft "
                                 f"--model {model} QUESTION")
    clf = Classifier.load(info.folder, s)
    proba = clf.predict_proba(texts)
    rows = [{"text": t, "label": clf.labels[int(p.argmax())],
             "scores": {lab: round(float(x), 4) for lab, x in zip(clf.labels, p, strict=True)}}
            for t, p in zip(texts, proba, strict=True)]
    if as_json:
        return print_json(rows)
    t = Table("text", "label", *clf.labels)
    for r in rows:
        t.add_row(r["text"][:60], f"[bold]{r['label']}[/]", *(f"{r['scores'][lab]:.3f}" for lab in clf.labels))
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
