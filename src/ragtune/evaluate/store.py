"""Reading the answers of a past comparison back (``ragtune runs show ID --answers``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.errors import RagtuneError
from ragtune.evaluate.results import ComparisonResults
from ragtune.runlog import RunLog


def load_results(settings: Settings, run_id: str) -> ComparisonResults:
    """The results.json of comparison ``run_id`` (a unique prefix is enough)."""
    run = RunLog(settings.data_dir).get(run_id)
    if run is None or run["kind"] != "compare":
        raise RagtuneError(f"run {run_id!r} is not a comparison; answers are kept for `ragtune compare` runs")
    path = Path((run.get("result") or {}).get("results", ""))
    if not path.is_file():
        raise RagtuneError(f"run {run_id} has no results.json (it did not finish); run the comparison again")
    return ComparisonResults.load(path)


def load_answers(settings: Settings, run_id: str, mode: str | None = None, limit: int | None = 20,
                 item: str | None = None) -> list[dict[str, Any]]:
    res = load_results(settings, run_id)
    if mode and mode not in res.mode_names:
        raise RagtuneError(f"run {run_id} has no mode {mode!r}; it has {', '.join(res.mode_names)}")
    rows = []
    for it in res.items:
        if (mode and it.mode != mode) or (item and it.item_id != item):
            continue
        rows.append({"item_id": it.item_id, "mode": it.mode, "question": it.question, "references": it.references,
                     "prediction": it.prediction, "scores": {k: round(v, 3) for k, v in it.scores.items()},
                     "latency_ms": it.latency_ms, "prompt": it.prompt,
                     "retrieved": [r.__dict__ for r in it.retrieved],
                     "citations": [c.__dict__ for c in it.citations if c.cited]})
    return rows[:limit] if limit else rows
