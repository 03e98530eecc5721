"""Progress for long work, on stderr: a rich bar on a terminal, plain lines in a log, or nothing.

With stderr redirected to a file (``ragtune train sft ... > log 2>&1``) a live bar writes
nothing readable, so the same calls print one plain line per task every ``LINE_EVERY_S``
seconds and when it ends ("train my-model: 40/104 (38%) loss 2.113 · 31 s, eta 52 s").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr = Console(stderr=True)
LINE_EVERY_S = 10.0


class _Silent:
    def add_task(self, *a, **k) -> int:
        return 0

    def update(self, *a, **k) -> None:
        pass

    def advance(self, *a, **k) -> None:
        pass


def _clock(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


class Lines:
    """The Progress calls (add_task/update/advance) as plain lines, at most one per task per ``every`` s."""

    def __init__(self, stream: TextIO | None = None, every: float = LINE_EVERY_S):
        self.stream, self.every = stream, every
        self.tasks: list[dict[str, Any]] = []

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields) -> int:
        now = time.monotonic()
        self.tasks.append({"description": description, "total": total, "completed": completed,
                           "fields": fields, "start": now, "done": completed, "last": now})
        self._line(self.tasks[-1], "started")
        return len(self.tasks) - 1

    def update(self, task: int, completed: float | None = None, advance: float | None = None,
               total: float | None = None, description: str | None = None, **fields) -> None:
        t = self.tasks[task]
        if total is not None:
            t["total"] = total
        if description is not None:
            t["description"] = description
        t["fields"].update(fields)
        if completed is not None:
            t["completed"] = completed
        if advance:
            t["completed"] += advance
        finished = t["total"] is not None and t["completed"] >= t["total"]
        if finished or time.monotonic() - t["last"] >= self.every:
            self._line(t)

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def _line(self, t: dict[str, Any], note: str = "") -> None:
        now = time.monotonic()
        t["last"] = now
        done, total = t["completed"], t["total"]
        count = f"{done:g}/{total:g} ({100 * done / total:.0f}%)" if total else f"{done:g}"
        elapsed = now - t["start"]
        rate = (done - t["done"]) / elapsed if elapsed > 0 else 0
        eta = f", eta {_clock((total - done) / rate)}" if total and rate > 0 and done < total else ""
        info = " ".join(str(v) for v in t["fields"].values() if v)
        parts = [f"{t['description']}: {count}", info, note, f"· {_clock(elapsed)}{eta}"]
        print(" ".join(p for p in parts if p), file=self.stream or sys.stderr, flush=True)


def default_enabled() -> bool:
    """Progress is shown unless a command turns it off; ``is_terminal`` picks a bar or plain lines."""
    return True


def is_terminal() -> bool:
    return stderr.is_terminal


@contextmanager
def progress(enabled: bool | None = None) -> Iterator[Progress | Lines | _Silent]:
    """A rich Progress with an ETA column on a terminal, plain lines otherwise; a no-op when disabled."""
    if enabled is None:
        enabled = default_enabled()
    if not enabled:
        yield _Silent()
        return
    if not is_terminal():
        yield Lines()
        return
    p = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=stderr, transient=False)
    with p:
        yield p
