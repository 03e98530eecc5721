"""The run log: a run whose process is gone is not "running" forever."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.runlog import GONE, RunLog

KILLED = """
import os, sys
from ragtune.runlog import RunLog
with RunLog(sys.argv[1]).run("compare", name="killed"):
    os._exit(9)  # dies inside the run, as a killed process does: no outcome is written
"""


def test_a_run_whose_process_died_is_marked_interrupted(tmp_path):
    subprocess.run([sys.executable, "-c", KILLED, str(tmp_path)], check=False, timeout=120)
    log = RunLog(tmp_path)
    with log.run("ask", name="alive") as live:
        rows = {r["name"]: r for r in log.list()}
        assert rows["killed"]["status"] == "interrupted" and rows["killed"]["error"] == GONE
        assert rows["alive"]["status"] == "running"  # this process is still running it
        assert log.get(live.id)["status"] == "running"
    assert {r["name"]: r["status"] for r in log.list()} == {"killed": "interrupted", "alive": "ok"}
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "runs", "list", "--json"])
    assert res.exit_code == 0 and '"interrupted"' in res.output and '"running"' not in res.output


def test_an_older_log_is_migrated(tmp_path):
    import sqlite3

    from ragtune.runlog import MIGRATIONS

    db = sqlite3.connect(tmp_path / "runs.sqlite")
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO runs (id, kind, status, started) VALUES ('old1', 'ask', 'running', 0)")
    db.commit()
    db.close()
    rows = RunLog(tmp_path).list()
    assert rows[0]["id"] == "old1" and rows[0]["status"] == "running"  # no process recorded: cannot tell
