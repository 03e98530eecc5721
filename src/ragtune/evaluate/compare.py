"""``ragtune compare``: build every contender, answer the same questions, measure, report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ragtune.config import Settings, _format_error, _parse_value, _set_path
from ragtune.errors import ConfigError, RagtuneError
from ragtune.evaluate.classification import ClassificationRunner
from ragtune.evaluate.experiment import ExperimentConfig
from ragtune.evaluate.qa import QARunner
from ragtune.evaluate.report import render_report
from ragtune.evaluate.results import DEFAULT_PRIMARY, ComparisonResults
from ragtune.evaluate.stats import summarize
from ragtune.evaluate.validate import check_models
from ragtune.evaluate.workspace import Workspace
from ragtune.runlog import RunLog


def experiment_settings(settings: Settings, exp: ExperimentConfig, data_dir: Path) -> Settings:
    """The user's settings + the experiment's [settings], on the experiment's own data folder."""
    tree = settings.dump()
    tree["data_dir"] = str(data_dir)
    for item in exp.setting_overrides():
        k, v = item.split("=", 1)
        _set_path(tree, k, _parse_value(v), f"experiment {exp.name} [settings] {k}")
    try:
        return Settings.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(f"experiment {exp.name} [settings]: {_format_error(e)}") from None


def reports_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "reports"


QUICK_NOTE = ("A quick run (--quick): its sizes only check that the set-up works; it is not for decisions. "
              "Run without --quick for numbers to decide on.")


def run_comparison(exp: ExperimentConfig, settings: Settings, show_progress: bool | None = None,
                   fresh: bool = False, quick: bool = False) -> tuple[ComparisonResults, dict[str, Path]]:
    """Run one experiment end to end; returns the results and the report's paths.

    Finished stages in the experiment's workspace are reused unless ``fresh``. ``quick`` marks
    a ``--quick`` run: results.json (``config["quick"]``), the notes and the recommendation
    say that it is not for decisions.
    """
    import shutil

    ws_root = Path(settings.data_dir) / "experiments" / exp.name
    s = experiment_settings(settings, exp, Workspace.data_dir_of(ws_root))
    check_models(exp, s)  # a mode the models cannot run fails now, before anything is built or removed
    if fresh and ws_root.exists():
        shutil.rmtree(ws_root)
    ws = Workspace(ws_root)
    cfg: dict[str, Any] = {"experiment": exp.model_dump(mode="json"), "settings": s.dump()}
    if quick:
        cfg["quick"] = True
    log = RunLog(settings.data_dir)
    with log.run("compare", cfg, name=exp.name) as run:
        res = ComparisonResults.new(exp.name, exp.task, config=cfg, seed=exp.seed)
        res.run_id = run.id
        res.primary_metric = exp.primary_metric or DEFAULT_PRIMARY[exp.task]
        t0 = time.perf_counter()
        if exp.task == "qa":
            QARunner(exp, s, ws, res, show_progress).run()
        else:
            ClassificationRunner(exp, s, ws, res, show_progress).run()
        res.config["wall_s"] = round(time.perf_counter() - t0, 1)
        if quick:
            res.notes.insert(0, QUICK_NOTE)
        summarize(res)
        out = reports_dir(settings) / run.id
        paths = render_report(res, out)
        run.update({"name": exp.name, "task": exp.task, "report": str(paths.get("html", out)),
                    "results": str(out / "results.json"), "workspace": str(ws_root),
                    "primary_metric": res.primary_metric,
                    "summary": {m: {k: e.value for k, e in v.items()} for m, v in res.metrics.items()}})
    return res, paths


def rerender(settings: Settings, run_id: str) -> dict[str, Path]:
    """Re-render the report of a past run from its results.json."""
    run = RunLog(settings.data_dir).get(run_id)
    if run is None or run["kind"] != "compare":
        raise RagtuneError(f"no comparison run {run_id!r}; see: ragtune runs list --kind compare")
    path = Path((run.get("result") or {}).get("results", reports_dir(settings) / run["id"] / "results.json"))
    if not path.exists():
        raise RagtuneError(f"{path} is missing: the run did not finish; run the comparison again")
    res = ComparisonResults.load(path)
    return render_report(res, path.parent)
