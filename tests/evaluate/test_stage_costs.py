"""Cost you can plan, and latencies that compare: fixed stage records reach results.json, the report and
the terminal; the answering scheduler interleaves and really runs concurrently; the peak memory of a
stage sees a spike that no sample would."""

from __future__ import annotations

import json
import sys
import threading

import pytest
from rich.console import Console

from ragtune.evaluate.answering import Job, answer_stage, interleave, run_jobs
from ragtune.evaluate.costs import record_stages
from ragtune.evaluate.report import print_summary, render_report
from ragtune.evaluate.workspace import PeakMemory

# Stage records as the workspace keeps them (QARunner.build_kb / QARunner.train), with fixed numbers.
USED = {
    "kb-docs": ({"fingerprint": "a", "setup_s": 12.4, "index_bytes": 2_000_000, "chunks": 20, "peak_mb": 850.2,
                 "start_mb": 610.0, "peak_method": "VmHWM"}, False),
    "train-ft": ({"fingerprint": "b", "setup_s": 312.0, "peak_mb": 3210.4, "start_mb": 905.1, "peak_method": "VmHWM",
                  "metrics": {"tokens_per_s": 182.4, "threads": 2, "threads_source": "auto", "seconds": 298.0,
                              "steps": 56, "tokens": 54355}}, False),
    "train-raft": ({"fingerprint": "c", "setup_s": 1074.0, "peak_mb": 2790.0, "start_mb": 1000.0,
                    "peak_method": "VmHWM", "metrics": {"tokens_per_s": 140.0, "threads": 1,
                                                        "threads_source": "setting", "seconds": 1050.0}}, True),
}


def _answered(res, session_of=lambda mode: "run-1"):
    """Every item of ``res`` as answered in the session ``session_of(mode)``; the answer stage of that."""
    by_mode: dict[str, dict] = {}
    for it in res.items:
        it.extra["answer_session"] = session_of(it.mode)
        by_mode.setdefault(it.mode, {})[it.item_id] = it
    answered = {m: len(recs) for m, recs in by_mode.items() if session_of(m) == "run-1"}
    return answer_stage(by_mode, answered, 1, 95.0, {"peak_mb": 1200.0, "start_mb": 1100.0, "peak_method": "VmHWM"})


def test_stage_costs_reach_results_json_the_report_and_the_terminal(tmp_path, make_qa):
    res = make_qa({"base": 0.1, "rag": 0.5, "ft": 0.2})
    res.stages["answer"] = _answered(res)
    record_stages(res, USED)
    paths = render_report(res, tmp_path)

    stages = json.loads(paths["json"].read_text())["stages"]
    assert list(stages) == ["kb-docs", "train-ft", "train-raft", "answer"]
    assert stages["train-ft"] == {"wall_s": 312.0, "peak_mb": 3210.4, "start_mb": 905.1, "peak_method": "VmHWM",
                                  "tokens_per_s": 182.4, "threads": 2, "threads_source": "auto", "loop_s": 298.0,
                                  "steps": 56, "tokens": 54355, "reused": False}
    assert stages["train-raft"]["reused"] is True and stages["train-raft"]["threads_source"] == "setting"
    assert stages["kb-docs"]["peak_mb"] == 850.2 and "tokens_per_s" not in stages["kb-docs"]
    assert stages["answer"]["order"] == "interleaved" and stages["answer"]["same_conditions"] is True

    ft_line = "train-ft 5.2 min, peak 3,210 MB (+2,305), 182 tokens/s on 2 threads"
    raft_line = ("train-raft 17.9 min, peak 2,790 MB (+1,790), 140 tokens/s on 1 thread, reused, measured in an "
                 "earlier run")
    latency = ("Latencies compare across modes: each question was answered in every mode in turn (interleaved), "
               "in this run.")
    html, md = paths["html"].read_text(), paths["markdown"].read_text()
    for text in (html, md):
        assert ft_line in text and raft_line in text and "kb-docs 12.4 s, peak 850 MB (+240)" in text
        assert "answering (180 answers) 95.0 s, peak 1,200 MB (+100)." in text and latency in text
    console = Console(record=True, width=400)
    print_summary(res, console)
    out = console.export_text()
    assert f"cost: {ft_line}\n" in out and f"cost: {raft_line}\n" in out and latency in out
    assert "cost: answering (180 answers) 95.0 s, peak 1,200 MB (+100)\n" in out


def test_latencies_from_another_session_are_marked_as_not_comparable(make_qa):
    res = make_qa({"base": 0.1, "rag": 0.5, "ft": 0.2})
    res.stages["answer"] = _answered(res, lambda mode: "run-0" if mode == "rag" else "run-1")
    record_stages(res, {})
    st = res.stages["answer"]
    assert st["same_conditions"] is False and st["not_comparable"] == ["rag"]
    assert st["reused"] == {"base": 0, "rag": 60, "ft": 0} and st["answered"] == {"base": 60, "ft": 60}
    assert res.notes[-1].startswith("Latencies of rag do not compare with those of the other modes")
    # Answers reused from before sessions were recorded compare with nothing.
    res.items[0].extra.pop("answer_session"), res.items[1].extra.pop("answer_session")
    old = answer_stage({"base": {"q": res.items[0]}, "rag": {"q": res.items[1]}}, {}, 1, 0.0, {})
    assert old["same_conditions"] is False and old["not_comparable"] == ["base", "rag"]


def test_jobs_are_interleaved_and_run_concurrently_with_done_on_the_calling_thread():
    jobs = interleave(["base", "rag", "ft"], ["q1", "q2", "q3"])
    assert [(j.mode, j.item_id) for j in jobs[:4]] == [("base", "q1"), ("rag", "q1"), ("ft", "q1"), ("base", "q2")]
    # Three jobs meet at a barrier: only three concurrent workers get past it (one at a time would break it).
    barrier, started, lock = threading.Barrier(3, timeout=60), [], threading.Lock()

    def answer(job: Job) -> str:
        with lock:
            started.append(job)
            k = len(started)
        if k <= 3:
            barrier.wait()
        return f"{job.mode}:{job.item_id}"

    done: list[tuple[Job, str, bool]] = []
    run_jobs(jobs, answer, lambda j, r: done.append((j, r, threading.current_thread() is threading.main_thread())),
             concurrency=3)
    assert set(started[:3]) == set(jobs[:3]) and sorted(started, key=jobs.index) == jobs
    assert len(done) == 9 and all(r == f"{j.mode}:{j.item_id}" and main for j, r, main in done)


def test_a_failed_answer_is_raised_and_the_answers_before_it_are_kept():
    jobs = interleave(["base"], [f"q{i}" for i in range(20)])

    def answer(job: Job) -> str:
        if job.item_id == "q1":
            raise RuntimeError("endpoint down")
        return job.item_id

    for concurrency in (1, 2):
        kept: list[str] = []
        with pytest.raises(RuntimeError, match="endpoint down"):
            run_jobs(jobs, answer, lambda j, r, kept=kept: kept.append(r), concurrency=concurrency)
        assert "q1" not in kept and (kept == ["q0"] if concurrency == 1 else len(kept) < 20)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_peak_memory_sees_a_spike_between_two_samples():
    mem = PeakMemory(interval=3600)  # one sample at the start: only the kernel's mark can see the spike
    with mem.watch():
        spike = b"\x01" * (200 * 2**20)
        del spike
    rec = mem.record()
    assert rec["peak_method"] == "VmHWM" and rec["peak_mb"] - rec["start_mb"] >= 150
