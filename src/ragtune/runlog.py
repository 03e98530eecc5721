"""A SQLite record of every run: ingest, query, train, compare, serve requests.

Each run keeps its kind, the settings it ran with, library versions, timings, status and a
JSON result; long runs may add metric rows (loss curves) and events. The schema is
migrated forward with ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIGRATIONS = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT,
        status TEXT NOT NULL,
        started REAL NOT NULL,
        finished REAL,
        duration_s REAL,
        config TEXT,
        versions TEXT,
        result TEXT,
        error TEXT
    );
    CREATE INDEX runs_kind ON runs(kind, started);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        t REAL NOT NULL
    );
    CREATE INDEX metrics_run ON metrics(run_id, name, step);
    """,
    # The process that runs it: a run whose process is gone without an outcome was stopped.
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN host TEXT;
    """,
]
GONE = "the process ended without recording an outcome (killed, or its machine stopped)"


def process_alive(pid: int | None, host: str | None) -> bool:
    """Whether the process that started a run may still be running it.

    Only a process on this machine can be checked; another machine's runs (a shared data folder)
    and runs recorded before processes were (no pid) count as alive.
    """
    if not pid or host != socket.gethostname() or os.name == "nt":  # os.kill(pid, 0) would end it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def library_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("ragtune", "torch", "transformers", "sentence-transformers", "lancedb", "llama-cpp-python", "peft"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class Run:
    id: str
    kind: str
    log: RunLog
    started: float
    work_s: float = 0.0  # the run's own measure of its work, when it began before the record did

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        with self.log.connect() as db:
            db.execute("INSERT INTO metrics VALUES (?,?,?,?,?)", (self.id, step, name, float(value), time.time()))

    def update(self, result: dict[str, Any]) -> None:
        """Store the result; its ``timings.total_ms`` / ``total_s`` (answers, ingests) set the duration's floor.

        Some work is recorded once it is done (``ask`` opens its run after answering), so the time the
        record was open says nothing about it; the work's own timing does.
        """
        timings = result.get("timings") if isinstance(result, dict) else None
        if isinstance(timings, dict):
            for key, scale in (("total_ms", 1e-3), ("total_s", 1.0)):
                if isinstance(timings.get(key), int | float):
                    self.work_s = max(self.work_s, float(timings[key]) * scale)
        with self.log.connect() as db:
            db.execute("UPDATE runs SET result=? WHERE id=?", (json.dumps(result, default=str), self.id))


class RunLog:
    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / "runs.sqlite"

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for i, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                db.executescript(sql)
                db.execute(f"PRAGMA user_version = {i}")
            yield db
            db.commit()
        finally:
            db.close()

    @contextmanager
    def run(self, kind: str, config: dict[str, Any] | None = None, name: str | None = None) -> Iterator[Run]:
        """Record a run; it ends as ``ok``, ``failed`` (with the error) or ``interrupted``.

        A run whose process dies before it can say so (killed, power cut) is marked ``interrupted``
        the next time the log is read (see :meth:`mark_gone`).
        """
        run = Run(uuid.uuid4().hex[:12], kind, self, time.time())
        with self.connect() as db:
            db.execute(
                "INSERT INTO runs (id, kind, name, status, started, config, versions, pid, host) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (run.id, kind, name, "running", run.started, json.dumps(config or {}, default=str),
                 "{}", os.getpid(), socket.gethostname()),
            )
        status, error = "ok", None
        try:
            yield run
        except KeyboardInterrupt:
            status, error = "interrupted", "KeyboardInterrupt"
            raise
        except BaseException as e:
            status, error = "failed", f"{type(e).__name__}: {e}"
            raise
        finally:
            end = time.time()
            duration = max(end - run.started, run.work_s)
            # versions after the clock stops: reading package metadata the first time takes ~0.1 s
            versions = json.dumps(library_versions())
            with self.connect() as db:
                db.execute(
                    "UPDATE runs SET status=?, started=?, finished=?, duration_s=?, error=?, versions=? WHERE id=?",
                    (status, end - duration, end, duration, error, versions, run.id),
                )

    def mark_gone(self) -> int:
        """Mark ``running`` runs whose process is gone as ``interrupted``; returns how many."""
        with self.connect() as db:
            rows = db.execute("SELECT id, pid, host FROM runs WHERE status='running'").fetchall()
            gone = [r["id"] for r in rows if not process_alive(r["pid"], r["host"])]
            db.executemany("UPDATE runs SET status='interrupted', error=? WHERE id=? AND status='running'",
                           [(GONE, i) for i in gone])
        return len(gone)

    def list(self, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        self.mark_gone()
        with self.connect() as db:
            q = "SELECT id, kind, name, status, started, duration_s, error FROM runs"
            args: tuple = ()
            if kind:
                q += " WHERE kind=?"
                args = (kind,)
            rows = db.execute(q + " ORDER BY started DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(r) for r in rows]

    def get(self, run_id: str) -> dict[str, Any] | None:
        self.mark_gone()
        with self.connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=? OR id LIKE ?", (run_id, run_id + "%")).fetchone()
            if row is None:
                return None
            d = dict(row)
            for k in ("config", "versions", "result"):
                d[k] = json.loads(d[k]) if d[k] else None
            d["metrics"] = [dict(m) for m in db.execute(
                "SELECT step, name, value FROM metrics WHERE run_id=? ORDER BY name, step", (d["id"],))]
        return d
