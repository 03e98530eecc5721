"""Answering a test set in several modes: the modes take turns on each question, optionally concurrently.

Latencies of two modes compare only when they were measured under the same conditions. Answering
mode by mode measured them minutes apart, under whatever else the machine was doing at the time;
here every question is answered in every mode before the next one (``interleave``), so a burst of
load elsewhere falls on all modes alike. A switch between modes reloads nothing: engines are
cached per (model, adapter) for the process (``generate.base.get_engine``), so each mode's
llama.cpp model and adapter stay loaded, as they already did when the modes answered one after
another; blocks of questions per mode would buy nothing.

``concurrency`` > 1 sends that many answers at once. It is for a generator behind an
OpenAI-compatible endpoint (a vLLM or llama.cpp server fleet, ``ragtune serve``), so that a
comparison runs at the speed of the serving engine; a local engine decodes one answer at a time
anyway, so it gets 1 (``concurrency_for``). Jobs start in the interleaved order and each answer is
handed back (and saved) as it finishes, on the calling thread; the caller keeps the records in
question order, so they are the records a sequential run gives (greedy decoding: the same text),
only the timings differ.

Each record carries ``extra["answer_session"]`` (the run that measured it) and
``extra["answered_at"]`` (when its answer started, Unix seconds); ``answer_stage`` reads them to
tell whether every latency of a run was measured in one interleaved session, even when a resumed
run reused answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from ragtune.config import Settings
from ragtune.evaluate.items import ItemRecord
from ragtune.registry import resolve

T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """One answer to give: ``mode``'s answer to the test item ``item_id``."""

    mode: str
    item_id: str


def interleave(modes: list[str], item_ids: list[str]) -> list[Job]:
    """Question by question, every mode in turn (in the order of ``modes``).

    >>> [(j.mode, j.item_id) for j in interleave(["base", "rag"], ["q1", "q2"])]
    [('base', 'q1'), ('rag', 'q1'), ('base', 'q2'), ('rag', 'q2')]
    """
    return [Job(m, i) for i in item_ids for m in modes]


def run_jobs(jobs: list[Job], answer: Callable[[Job], T], done: Callable[[Job, T], None],
             concurrency: int = 1) -> None:
    """``answer`` every job, ``concurrency`` at a time, started in list order; ``done`` on this thread.

    With 1, one after another. Otherwise a pool of ``concurrency`` threads; ``done`` is called as
    each finishes (so a finished answer is saved even if a later one fails). The first error stops
    the jobs not yet started and is raised once the running ones have ended.
    """
    if concurrency <= 1 or len(jobs) <= 1:
        for job in jobs:
            done(job, answer(job))
        return
    with ThreadPoolExecutor(concurrency, thread_name_prefix="ragtune-answer") as pool:
        futures = {pool.submit(answer, job): job for job in jobs}
        try:
            for f in as_completed(futures):
                done(futures[f], f.result())
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def serves_over_http(settings: Settings) -> bool:
    """Whether the generator is an OpenAI-compatible endpoint (the ``http`` engine)."""
    engine = settings.generation.engine
    if engine != "auto":
        return engine == "http"
    return resolve(settings.models.generator, settings).kind == "http"


def concurrency_for(settings: Settings, asked: int, notes: list[str]) -> int:
    """The concurrency to answer with: ``asked`` for an HTTP generator, else 1 (said in ``notes``)."""
    if asked <= 1 or serves_over_http(settings):
        return max(1, asked)
    notes.append(f"concurrency = {asked} is for a generator behind an HTTP endpoint; {settings.models.generator} "
                 "runs in this process, one answer at a time, so the answers were not sent concurrently")
    return 1


def answer_stage(answers: dict[str, dict[str, ItemRecord]], answered: dict[str, int], concurrency: int,
                 wall_s: float, memory: dict[str, Any]) -> dict[str, Any]:
    """``results.stages["answer"]``: how the test set was answered, and which latencies compare.

    ``answered`` counts the answers each mode gave in this run (the rest were reused). The modes
    whose answers all come from the session that measured most answers compare with each other;
    ``not_comparable`` lists the others (an answer reused from a run before this record existed has
    no session, and compares with nothing).
    """
    sessions = {m: {r.extra.get("answer_session") for r in recs.values()} for m, recs in answers.items()}
    counts = Counter(r.extra.get("answer_session") for recs in answers.values() for r in recs.values())
    main = counts.most_common(1)[0][0] if counts else None
    apart = [m for m, s in sessions.items() if main is None or s != {main}]
    return {"order": "interleaved", "concurrency": concurrency, "wall_s": round(wall_s, 1), **memory,
            "answered": dict(answered),
            "reused": {m: len(recs) - answered.get(m, 0) for m, recs in answers.items()},
            "same_conditions": bool(answers) and not apart, "not_comparable": apart}
