"""What each stage of a comparison cost, and whether its latencies compare: ``results.stages``.

``record_stages(res, ws.used)`` turns the workspace's stage records (the knowledge base, each
trained contender, the models of the freshness and learning-curve experiments) into
``res.stages[name]``::

    {"wall_s": 312.4, "peak_mb": 3210.5, "start_mb": 905.2, "peak_method": "VmHWM",
     "tokens_per_s": 182.4, "threads": 2, "threads_source": "auto", "loop_s": 298.0, "steps": 56,
     "reused": false}

``wall_s`` is the stage's whole wall time (training: the loop, saving and the GGUF export;
``loop_s`` the loop alone). ``peak_mb`` is the peak resident memory of this process during the
stage (``workspace.PeakMemory``: the kernel's high-water mark ``VmHWM``, reset at the start of
the stage; ``start_mb`` what was resident then, so ``peak_mb - start_mb`` is what the stage
added). ``tokens_per_s`` and ``threads`` are the training loop's own (``train.loop.TrainResult``).
A stage reused from an earlier run keeps the numbers measured then (``reused``).

``res.stages["answer"]`` (written by the answering step, ``answering.answer_stage``) says how the
test set was answered: interleaved, how many concurrent requests, how many answers each mode
reused, and ``same_conditions``: whether every latency was measured in one answering session,
the modes taking turns question by question. ``cost_note`` and ``latency_note`` are the lines the
report, summary.md and the terminal show.
"""

from __future__ import annotations

from typing import Any

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.results import ComparisonResults


def stage_entry(record: dict[str, Any], reused: bool) -> dict[str, Any]:
    """The cost fields of one workspace stage record (unmeasured fields are left out)."""
    m = record.get("metrics") or {}
    out = {"wall_s": record.get("setup_s"), "peak_mb": record.get("peak_mb"), "start_mb": record.get("start_mb"),
           "peak_method": record.get("peak_method") or ("sampled RSS" if record.get("peak_mb") else None),
           "tokens_per_s": m.get("tokens_per_s"), "threads": m.get("threads") or None,
           "threads_source": m.get("threads_source") if m.get("threads") else None,
           "loop_s": m.get("seconds"), "steps": m.get("steps"), "tokens": m.get("tokens"), "reused": reused}
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items() if v is not None}


def record_stages(res: ComparisonResults, used: dict[str, tuple[dict[str, Any], bool]]) -> None:
    """Write every stage the run built or reused (``Workspace.used``) into ``res.stages`` (in the order
    they ran, the answering stage last), and ``cost_note`` and ``latency_note`` into its notes."""
    built = {name: stage_entry(record, reused) for name, (record, reused) in used.items()}
    res.stages = {**built, **{k: v for k, v in res.stages.items() if k not in built}}
    res.notes.extend(line for line in (cost_note(res.stages), latency_note(res.stages)) if line)


def stage_text(name: str, st: dict[str, Any]) -> str:
    """``train-ft 5.2 min, peak 3,210 MB (+2,305), 182 tokens/s on 2 threads``."""
    parts = [fmt.seconds(st.get("wall_s"))]
    if name == "answer":
        name = f"answering ({sum(st.get('answered', {}).values())} answers)"
    if st.get("peak_mb"):
        grew = st["peak_mb"] - st["start_mb"] if st.get("start_mb") is not None else None
        parts.append(f"peak {st['peak_mb']:,.0f} MB" + (f" (+{grew:,.0f})" if grew is not None else ""))
    if st.get("tokens_per_s"):
        threads = st.get("threads")
        parts.append(f"{st['tokens_per_s']:,.0f} tokens/s"
                     + (f" on {threads} thread{'' if threads == 1 else 's'}" if threads else ""))
    if st.get("reused") is True:  # the answering stage counts its reused answers per mode instead
        parts.append("reused, measured in an earlier run")
    return f"{name} " + ", ".join(parts)


def _measured(stages: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The stages with a wall time (the answering stage only when it answered something)."""
    return [(n, st) for n, st in stages.items()
            if st.get("wall_s") is not None and (n != "answer" or any(st.get("answered", {}).values()))]


def cost_note(stages: dict[str, dict[str, Any]]) -> str | None:
    """One line with every built stage's cost; None when no stage was recorded."""
    built = _measured(stages)
    if not built:
        return None
    methods = sorted({st["peak_method"] for _, st in built if st.get("peak_method")})
    how = f" ({' / '.join(methods)})" if methods else ""
    return (f"Cost of each stage (wall time; peak memory of this process{how}, in brackets what the stage added; "
            "training tokens/s and torch threads): " + "; ".join(stage_text(n, st) for n, st in built) + ".")


def stage_lines(stages: dict[str, dict[str, Any]]) -> list[str]:
    """The terminal's lines: one per stage with its cost, then ``latency_note``."""
    lines = [f"cost: {stage_text(n, st)}" for n, st in _measured(stages)]
    note = latency_note(stages)
    return lines + ([note] if note else [])


def latency_note(stages: dict[str, dict[str, Any]]) -> str | None:
    """One line: whether the modes' latencies were measured under the same conditions (None: not recorded)."""
    st = stages.get("answer")
    if not st:
        return None
    how = "each question was answered in every mode in turn (interleaved)"
    if st.get("concurrency", 1) > 1:
        how += f", {st['concurrency']} requests at a time"
    if st.get("same_conditions"):
        when = "in this run" if not any(st.get("reused", {}).values()) else "in one earlier run, reused by this one"
        return f"Latencies compare across modes: {how}, {when}."
    apart = st.get("not_comparable") or []
    which = (f"of {', '.join(apart)} do not compare with those of the other modes"
             if 0 < len(apart) < len(st.get("reused", {})) else "do not compare across modes")
    return (f"Latencies {which}: answers reused from an earlier run were measured in another session, under "
            f"other conditions (in this run {how}); rerun with --fresh to measure every mode together.")
