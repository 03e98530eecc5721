"""A real comparison answers question by question in every mode (latencies measured under the same
conditions, kept so by a resumed run), and sends concurrent requests to an HTTP generator: a real
``ragtune serve`` on loopback, whose own count of requests in flight shows that they overlapped.

Two modes (base, rag), four test questions over three SQuAD paragraphs, answers of at most 8 tokens.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.serve.conftest import LiveServer, make_settings

from ragtune.config import load_settings
from ragtune.evaluate.compare import run_comparison
from ragtune.evaluate.experiment import load_experiment

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "examples" / "knowledge" / "data"
MODES = ("base", "rag")


def experiment(name: str, **extra):
    return load_experiment(data={
        "name": name, "task": "qa", "modes": list(MODES),
        "data": {"corpus": str(DATA / "corpus.jsonl"), "questions": str(DATA / "qa.jsonl")},
        "sizes": {"docs": 3, "test_questions": 4, "train_questions": 0, "freshness_items": 0},
        "settings": {"generation": {"max_tokens": 8}}, **extra})


def client_settings(data_dir: Path, *overrides: str):
    return load_settings(overrides=list(overrides), env={"RAGTUNE_CONFIG": str(data_dir / "no-such-config.toml")},
                         data_dir=str(data_dir))


def records(res):
    """What a sequential and a concurrent run must agree on: every answer, its prompt and passages, in order."""
    return [(it.mode, it.item_id, it.prediction, it.prompt, [r.text for r in it.retrieved]) for it in res.items]


def test_modes_take_turns_on_each_question_and_a_resumed_run_says_where_latencies_come_from(tmp_path):
    s = client_settings(tmp_path / "data")
    exp = experiment("turns", concurrency=2)  # a local engine answers one at a time, and the notes say so
    res, paths = run_comparison(exp, s, show_progress=False)

    by_time = sorted(res.items, key=lambda it: it.extra["answered_at"])
    ids = list(dict.fromkeys(it.item_id for it in by_time))
    assert len(ids) == 4 and [(it.mode, it.item_id) for it in by_time] == [(m, q) for q in ids for m in MODES]
    st = res.stages["answer"]
    assert st["order"] == "interleaved" and st["concurrency"] == 1 and st["same_conditions"] is True
    assert st["answered"] == {"base": 4, "rag": 4} and st["wall_s"] > 0 and st["peak_mb"] >= st["start_mb"] > 0
    assert any(n.startswith("concurrency = 2 is for a generator behind an HTTP endpoint") for n in res.notes)
    kb = res.stages["kb-docs"]
    assert kb["wall_s"] > 0 and kb["peak_mb"] >= kb["start_mb"] > 0 and kb["peak_method"] == "VmHWM"
    assert kb["reused"] is False
    html = paths["html"].read_text()
    assert "Latencies compare across modes: each question was answered in every mode in turn (interleaved), " \
           "in this run." in html and "Cost of each stage" in html

    # Resumed: nothing is answered again, and the latencies still come from one interleaved session.
    res2, paths2 = run_comparison(exp, s, show_progress=False)
    st2 = res2.stages["answer"]
    assert st2["answered"] == {} and st2["reused"] == {"base": 4, "rag": 4} and st2["same_conditions"] is True
    assert res2.stages["kb-docs"]["reused"] is True and records(res2) == records(res)
    assert "in one earlier run, reused by this one." in paths2["html"].read_text()


class InFlight:
    """ASGI middleware on the real server: how many chat requests it is serving at once, at most."""

    def __init__(self, app, seen: dict):
        self.app, self.seen = app, seen
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            return await self.app(scope, receive, send)
        with self.lock:
            self.seen["now"] += 1
            self.seen["peak"] = max(self.seen["peak"], self.seen["now"])
            self.seen["requests"] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            with self.lock:
                self.seen["now"] -= 1


def test_concurrent_requests_to_ragtune_serve_give_the_sequential_answers(tmp_path):
    seen = {"now": 0, "peak": 0, "requests": 0}
    server = LiveServer(make_settings(tmp_path / "server"))
    server.app.add_middleware(InFlight, seen=seen)
    runs = {}
    with server:
        s = client_settings(tmp_path / "client", "models.generator=remote",
                            f'models.registry.remote={{kind="http", base_url="{server.url}/v1", model="base"}}')
        for n in (1, 3):
            seen.update(peak=0, requests=0)
            res, _ = run_comparison(experiment(f"http{n}", concurrency=n), s, show_progress=False)
            runs[n] = (res, dict(seen))
    (one, seen1), (three, seen3) = runs[1], runs[3]
    assert seen1["requests"] == seen3["requests"] >= 4  # base asks every question; rag unless it abstains
    assert seen1["peak"] == 1 and 2 <= seen3["peak"] <= 3  # the server saw the requests overlap, never more than 3
    assert one.stages["answer"]["concurrency"] == 1 and three.stages["answer"]["concurrency"] == 3
    assert records(three) == records(one)
    assert "interleaved), 3 requests at a time, in this run." in three.notes[-1]
