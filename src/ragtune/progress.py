"""Progress bars for long work (rich), shown on stderr and silent when disabled."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

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


class _Silent:
    def add_task(self, *a, **k) -> int:
        return 0

    def update(self, *a, **k) -> None:
        pass

    def advance(self, *a, **k) -> None:
        pass


def default_enabled() -> bool:
    return sys.stderr.isatty()


@contextmanager
def progress(enabled: bool | None = None) -> Iterator[Progress | _Silent]:
    """A rich Progress with an ETA column; a no-op object when disabled."""
    if enabled is None:
        enabled = default_enabled()
    if not enabled:
        yield _Silent()
        return
    p = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=stderr, transient=False)
    with p:
        yield p
