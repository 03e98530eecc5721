"""A SQLite record of every run: ingest, query, train, compare, serve requests.

Each run keeps its kind, the settings it ran with, library versions, timings, status and a
JSON result; long runs may add metric rows (loss curves) and events. The schema is
migrated forward with ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import platform
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
]


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

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        with self.log.connect() as db:
            db.execute("INSERT INTO metrics VALUES (?,?,?,?,?)", (self.id, step, name, float(value), time.time()))

    def update(self, result: dict[str, Any]) -> None:
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
        """Record a run; it ends as ``ok``, ``failed`` (with the error) or ``interrupted``."""
        run = Run(uuid.uuid4().hex[:12], kind, self, time.time())
        with self.connect() as db:
            db.execute(
                "INSERT INTO runs (id, kind, name, status, started, config, versions) VALUES (?,?,?,?,?,?,?)",
                (run.id, kind, name, "running", run.started, json.dumps(config or {}, default=str),
                 json.dumps(library_versions())),
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
            with self.connect() as db:
                db.execute(
                    "UPDATE runs SET status=?, finished=?, duration_s=?, error=? WHERE id=?",
                    (status, end, end - run.started, error, run.id),
                )

    def list(self, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self.connect() as db:
            q = "SELECT id, kind, name, status, started, duration_s, error FROM runs"
            args: tuple = ()
            if kind:
                q += " WHERE kind=?"
                args = (kind,)
            rows = db.execute(q + " ORDER BY started DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(r) for r in rows]

    def get(self, run_id: str) -> dict[str, Any] | None:
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
