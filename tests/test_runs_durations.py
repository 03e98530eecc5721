"""``runs list`` shows an ingest's duration as the ingest measured it (its own timings), not less."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import load_settings
from ragtune.kb import KnowledgeBase


@pytest.mark.slow
def test_runs_list_shows_the_ingest_duration_from_its_timings(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"d{i}.md").write_text(f"# Room {i}\n\nThe lamp number {i} is kept in room {i * 7}.\n" * 20)
    s = load_settings(env={}, data_dir=str(tmp_path / "data"))
    kb = KnowledgeBase.create(s, "docs")
    t0 = time.perf_counter()
    rep = kb.ingest([docs], show_progress=False)
    wall = time.perf_counter() - t0
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "runs", "list", "--kind", "ingest",
                                   "--json"])
    row = json.loads(res.stdout)[0]
    own = rep.timings["total_s"]
    assert own > 0 and own <= row["duration_s"] <= wall + 0.05, (own, row["duration_s"], wall)
    table = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "runs", "list"]).stdout
    assert f"{row['duration_s']:.2f}" in table
    print(f"ingest: own timings {own:.2f} s, run log {row['duration_s']:.2f} s, wall around ingest() {wall:.2f} s")
