"""Shared pieces of the RAG benchmarks: the SQuAD corpus as files, a cached knowledge base of it,
latency statistics, and writing a section of ``benchmarks/RESULTS.md``.

Why a cached knowledge base: embedding the 2,067 SQuAD paragraphs takes minutes on this
machine, and the re-sync, search, answer and quality benchmarks all start from the same KB, so
the first benchmark that needs it builds it under the work folder and the others reuse it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("RESULTS.md")
SQUAD = Path(os.environ.get("RAGTUNE_SQUAD", ROOT.parent / "shared" / "data" / "squad_dev"))
DEFAULT_WORK = Path(os.environ.get("RAGTUNE_BENCH_WORK", "/tmp/ragtune-bench"))
SQUAD_KB = "squad2067"

sys.path.insert(0, str(ROOT / "src"))


# ---- the machine and the date ----------------------------------------------------------------
def machine() -> str:
    """One line naming the machine, for every section (the figures mean nothing without it)."""
    cpu, fields = "unknown CPU", {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        cpu = fields.get("model name", cpu)
        if "cpu family" in fields:  # the name alone does not tell machines apart ("Intel(R) Xeon(R) Processor")
            cpu += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return f"{cores}-core {cpu}{mem}, no GPU, Python {platform.python_version()}"


def load_avg() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def today() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def versions() -> str:
    out = []
    for mod in ("torch", "sentence_transformers", "lancedb", "llama_cpp", "numpy"):
        try:
            m = __import__(mod)
            out.append(f"{mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            pass
    return ", ".join(out)


def header(note: str = "") -> str:
    """The lines every section opens with: when, where, what load, which versions."""
    lines = [f"Measured {today()} on {machine()}; load average at the end {load_avg()} (1/5/15 min; "
             "the machine is shared, so read the side-by-side ratios).", f"Versions: {versions()}."]
    if note:
        lines.append(note)
    return "\n".join(lines)


# ---- RESULTS.md ------------------------------------------------------------------------------
def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace the ``## title`` section of RESULTS.md (or append it), leaving others' sections alone."""
    text = path.read_text() if path.exists() else "# Benchmark results\n\nEach section is written by the script " \
        "named in it; re-running a script replaces only its own section.\n"
    block = f"## {title}\n\n{body.strip()}\n"
    pat = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda _: block + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n")


def table(headers: list[str], rows: Iterable[Iterable[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


# ---- statistics --------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Percentile by linear interpolation (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


# ---- SQuAD -----------------------------------------------------------------------------------
def squad_paragraphs(n: int | None = None) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in (SQUAD / "corpus.jsonl").open(encoding="utf-8")]
    return rows[:n] if n else rows


def squad_questions(n: int, seed: int = 0, doc_ids: set[str] | None = None) -> list[dict[str, Any]]:
    """``n`` questions sampled with a fixed seed (from paragraphs in ``doc_ids`` if given)."""
    rows = [json.loads(line) for line in (SQUAD / "qa.jsonl").open(encoding="utf-8")]
    if doc_ids is not None:
        rows = [r for r in rows if r["doc_id"] in doc_ids]
    return random.Random(seed).sample(rows, min(n, len(rows)))


def file_name(i: int) -> str:
    return f"p{i:05d}.txt"


def write_corpus(folder: Path, paragraphs: list[dict[str, str]]) -> dict[str, str]:
    """One .txt file per paragraph (its text only); returns resolved path -> paragraph id."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for i, p in enumerate(paragraphs):
        f = folder / file_name(i)
        if not f.exists() or f.read_text(encoding="utf-8") != p["text"]:
            f.write_text(p["text"], encoding="utf-8")
        index[str(f.resolve())] = p["id"]
    (folder / ".index.json").write_text(json.dumps(index))
    return index


def settings_for(work: Path, *overrides: str):
    """Settings with the data folder under ``work`` and nothing read from the current folder."""
    from ragtune.config import load_settings

    return load_settings(path=None, overrides=[f"data_dir={work / 'data'}", *overrides],
                         env={"RAGTUNE_CONFIG": str(work / "no-config.toml")})


def squad_kb(work: Path, log: Callable[[str], None] = print):
    """The knowledge base of all 2,067 SQuAD paragraphs (one .txt file each), built once, reused.

    Returns (settings, kb, corpus folder, path -> paragraph id).
    """
    from ragtune.kb import KnowledgeBase, list_kbs

    settings = settings_for(work)
    folder = work / "squad_files"
    index = write_corpus(folder, squad_paragraphs())
    if SQUAD_KB in list_kbs(settings):
        kb = KnowledgeBase.open(settings, SQUAD_KB)
        if kb.store.count() > 0 and set(kb.store.sources()) == set(index):
            return settings, kb, folder, index
        KnowledgeBase.delete(settings, SQUAD_KB)
    log(f"building the {SQUAD_KB} knowledge base in {work} (embeds 2,067 paragraphs: a few minutes)...")
    kb = KnowledgeBase.create(settings, SQUAD_KB)
    t = time.perf_counter()
    rep = kb.ingest([folder], show_progress=False)
    log(f"  {rep.chunks_added} chunks in {time.perf_counter() - t:.0f} s")
    return settings, kb, folder, index
