"""Where a comparison keeps what it built, so an interrupted run resumes instead of redoing.

``<data_dir>/experiments/<name>/`` holds a data folder of its own (knowledge bases, trained
models), one stage record per finished stage with the fingerprint of what it was built from,
and the answers cache. A stage is reused only when its fingerprint matches; an answer only
when its mode's fingerprint and item id match.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragtune.files import atomic_write_text


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.data_dir = self.data_dir_of(self.root)
        # Every stage this run built or reused, with its record and whether it was reused (see ``costs``).
        self.used: dict[str, tuple[dict[str, Any], bool]] = {}
        (self.root / "stages").mkdir(parents=True, exist_ok=True)
        (self.root / "answers").mkdir(parents=True, exist_ok=True)

    @staticmethod
    def data_dir_of(root: Path) -> Path:
        """The data folder (knowledge bases, trained models) of the workspace at ``root``, without creating it."""
        return Path(root) / "data"

    # ---- stages ---------------------------------------------------------------------------
    def stage(self, name: str, fp: str) -> dict[str, Any] | None:
        """The record of a finished stage built from ``fp``, or None."""
        f = self.root / "stages" / f"{name}.json"
        if not f.exists():
            return None
        rec = json.loads(f.read_text())
        if rec.get("fingerprint") != fp:
            return None
        self.used[name] = (rec, True)
        return rec

    def stage_fp(self, name: str) -> str | None:
        f = self.root / "stages" / f"{name}.json"
        return json.loads(f.read_text()).get("fingerprint") if f.exists() else None

    def finish(self, name: str, fp: str, info: dict[str, Any]) -> dict[str, Any]:
        rec = {"fingerprint": fp, "finished": time.time(), **info}
        atomic_write_text(self.root / "stages" / f"{name}.json", json.dumps(rec, indent=1, default=str))
        self.used[name] = (rec, False)
        return rec

    # ---- answers ----------------------------------------------------------------------------
    def _answers_file(self, mode: str) -> Path:
        return self.root / "answers" / (mode.replace("/", "__").replace("+", "_plus_") + ".jsonl")

    def cached_answers(self, mode: str, fp: str) -> dict[str, dict[str, Any]]:
        f = self._answers_file(mode)
        out: dict[str, dict[str, Any]] = {}
        if f.exists():
            for line in f.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill: that answer is simply redone
                if row.get("fp") == fp:
                    out[row["item_id"]] = row["record"]
        return out

    def save_answer(self, mode: str, fp: str, item_id: str, record: dict[str, Any]) -> None:
        with self._answers_file(mode).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"fp": fp, "item_id": item_id, "record": record}, default=str) + "\n")


class PeakMemory:
    """The peak resident memory of this process during a block, in MB (``peak_mb``; ``start_mb`` at its start).

    On Linux the kernel's own high-water mark is reset at the start of the block (``5`` written to
    ``/proc/self/clear_refs``) and read at its end (``VmHWM`` in ``/proc/self/status``), so a
    spike between two samples is not missed; ``method`` is then ``"VmHWM"``. Elsewhere (or where
    the reset is refused) a thread samples the resident size every ``interval`` seconds
    (``method`` ``"sampled RSS"``). Both count every thread of this process, none of its children.
    A block nested inside another resets the mark too, so the outer block's peak then falls back to
    its samples (and the mark since the inner reset).
    """

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_mb = 0.0
        self.start_mb = 0.0
        self.method = "sampled RSS"
        self._stop = threading.Event()

    def _rss_mb(self) -> float:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError):
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    @staticmethod
    def _hwm_mb() -> float | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._rss_mb())
            self._stop.wait(self.interval)

    @contextmanager
    def watch(self) -> Iterator[PeakMemory]:
        self.start_mb = self.peak_mb = self._rss_mb()
        hwm = self._reset_hwm() and self._hwm_mb() is not None
        self.method = "VmHWM" if hwm else "sampled RSS"
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop.set()
            t.join()
            self._stop.clear()
            mark = self._hwm_mb() if hwm else None
            self.peak_mb = max(self.peak_mb, self._rss_mb(), mark or 0.0)

    def record(self) -> dict[str, Any]:
        """The fields a stage record keeps: ``peak_mb``, ``start_mb`` and how the peak was measured."""
        return {"peak_mb": round(self.peak_mb, 1), "start_mb": round(self.start_mb, 1), "peak_method": self.method}
