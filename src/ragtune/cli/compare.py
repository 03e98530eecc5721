"""``ragtune compare``: the main job (``ragtune report`` lives in report.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from ragtune.cli.common import console, print_json, settings_from
from ragtune.errors import ConfigError
from ragtune.evaluate.compare import QUICK_NOTE, run_comparison
from ragtune.evaluate.experiment import QUICK_OVERRIDES, load_experiment
from ragtune.evaluate.report import print_summary

EXAMPLES = ("knowledge", "support", "sentiment")


def example_path(name: str) -> Path:
    """A shipped example's experiment.toml: ./examples/NAME, or the one beside this checkout."""
    for root in (Path.cwd() / "examples", Path(__file__).resolve().parents[3] / "examples"):
        p = root / name / "experiment.toml"
        if p.is_file():
            return p
    raise ConfigError(f"example {name!r} not found under ./examples; use one of {', '.join(EXAMPLES)} from a "
                      "ragtune checkout, or give --config experiment.toml")


def compare(ctx: typer.Context,
            config: Path = typer.Option(None, "--config", "-c", help="Experiment file (TOML)."),
            example: str = typer.Option(None, "--example", "-e", help=f"A shipped example: {', '.join(EXAMPLES)}."),
            quick: bool = typer.Option(False, "--quick", help="A tiny run (minutes) to check the set-up works."),
            override: list[str] = typer.Option(None, "--override", "-o",
                                               help="Experiment value: key=value, e.g. sizes.test_questions=10."),
            fresh: bool = typer.Option(False, "--fresh", help="Rebuild every stage instead of resuming."),
            until_decisive: bool = typer.Option(
                False, "--until-decisive", help="Add held-back test questions in batches (never training ones) "
                "until the leading difference is decided, the pool is empty or a budget is spent."),
            budget_minutes: float = typer.Option(None, "--budget-minutes", min=0.01,
                                                 help="With --until-decisive: minutes to spend on added questions."),
            budget_questions: int = typer.Option(None, "--budget-questions", min=1,
                                                 help="With --until-decisive: at most this many added questions."),
            as_json: bool = typer.Option(False, "--json", help="Print the metric table as JSON at the end.")):
    """Build every contender (base, RAG, fine-tuned...), answer the same held-out questions, report.

    Stages already finished in an earlier run of the same experiment (knowledge base, trained
    models, answers) are reused, so an interrupted comparison resumes where it stopped.
    --until-decisive (or decide.until_decisive = true in the experiment file) keeps adding test
    questions until the leading difference is decided; the report says how many were added and why
    it stopped.
    """
    if config and example:
        raise ConfigError("give --config or --example, not both")
    if not config:
        config = example_path(example or "knowledge")
    overrides = (QUICK_OVERRIDES if quick else []) + list(override or []) + decide_overrides(
        until_decisive, budget_minutes, budget_questions)
    exp = load_experiment(config, overrides)
    if quick:
        exp.name = f"{exp.name}-quick"
        d = exp.decide
        if d.until_decisive and budget_questions is None:  # a minimal version: at most one batch of two
            d.batch = min(d.batch, 2)
            d.budget_questions = d.batch
    s = settings_from(ctx)
    res, paths = run_comparison(exp, s, show_progress=not as_json, fresh=fresh, quick=quick)
    grown = res.config.get("until_decisive")
    if as_json:
        return print_json({"run_id": res.run_id, "report": {k: str(v) for k, v in paths.items()},
                           "metrics": {m: {k: e.value for k, e in v.items()} for m, v in res.metrics.items()},
                           **({"until_decisive": grown} if grown else {})})
    print_summary(res, console, None)
    if grown:
        console.print(grown["summary"], markup=False, highlight=False)
    if quick:
        console.print(f"[yellow]{QUICK_NOTE}[/]")
    console.print(f"\nrun {res.run_id}: report [bold]{paths.get('html')}[/]")
    for k, v in paths.items():
        if k != "html":
            console.print(f"  {k}: {v}")


def decide_overrides(until_decisive: bool, budget_minutes: float | None, budget_questions: int | None) -> list[str]:
    """The [decide] overrides of the flags (a budget without --until-decisive fails at load, naming it)."""
    out = ["decide.until_decisive=true"] if until_decisive else []
    if budget_minutes is not None:
        out.append(f"decide.budget_minutes={budget_minutes}")
    if budget_questions is not None:
        out.append(f"decide.budget_questions={budget_questions}")
    return out


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
