"""The comparison report: report.html (self-contained), results.json and summary.md.

How numbers are written lives one floor down (``ragtune.evaluate.formatting``), so that
``recommend`` and the report both use it without an import cycle. matplotlib (the ``report``
extra) is only needed when a page with charts is rendered (see ``charts``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragtune.evaluate.recommend import recommend
from ragtune.evaluate.report.claims import key_differences
from ragtune.evaluate.report.html import render_html
from ragtune.evaluate.report.markdown import render_markdown
from ragtune.evaluate.report.task_wording import for_task
from ragtune.evaluate.report.terminal import print_summary as _print
from ragtune.evaluate.stats import summarize


def render_report(results: Any, out_dir: str | Path, sample_size: int = 12) -> dict[str, Path]:
    """Write report.html, results.json and summary.md into ``out_dir`` and return their paths.

    The recommendation is computed from ``results`` (summarised first when its metric table
    is empty) and stored in results.json beside the data it came from.
    """
    if not results.metrics:
        summarize(results)
    rec = recommend(results)
    results.recommendation = rec.to_dict()
    claims = for_task(key_differences(results), results.task)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "results.json", "markdown": out / "summary.md"}
    page = render_html(results, rec, claims, sample_size=sample_size)
    results.save(paths["json"])
    _write(paths["markdown"], render_markdown(results, rec, claims))
    _write(paths["html"], page)
    return paths


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def print_summary(results: Any, console: Any = None, recommendation: Any = None) -> None:
    """Print the summary table to the terminal with rich (see ``terminal.print_summary``)."""
    _print(results, console, recommendation)


__all__ = ["print_summary", "render_report"]
