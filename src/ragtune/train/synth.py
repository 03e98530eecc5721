"""Synthetic QA: the generator writes question/answer pairs from each chunk, a filter keeps the
pairs whose answer is really in the chunk, and the result is an SFT dataset you can read and edit.

    ragtune train synth --kb docs --out qa.jsonl            # writes qa.jsonl (+ qa.rejected.jsonl)
    ragtune train sft --data qa.jsonl --name docs-ft         # after looking at it
    ragtune train synth --kb docs --out qa.jsonl --name docs-ft   # both in one go

The filter is the point: a small generator invents answers freely, and training on an answer
that the source does not contain teaches the model a falsehood. A pair is kept only when its
answer, SQuAD-normalised (lower case, no punctuation or articles), occurs as whole words in the
normalised chunk, is short, is not already in the question, and the question is a question.
Each kept row carries its ``context`` and ``chunk_id``, so ``raft`` can train on the same file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragtune.config import PromptSettings
from ragtune.errors import DataError
from ragtune.generate.prompts import rag_messages
from ragtune.progress import progress as bar
from ragtune.text import normalize_answer, token_f1
from ragtune.train import sft
from ragtune.train.artifacts import check_name_free
from ragtune.train.config import TrainConfig
from ragtune.train.data import write_jsonl
from ragtune.train.sources import GenerateFn, make_generate
from ragtune.types import Chunk, Hit

SYSTEM = "You write quiz questions about a text. The answer is a few words copied exactly from the text."
USER = "Text:\n{text}\n\nWrite one question about the text and its short answer."
# One worked turn before the real one: without it the bundled 135M model ignored the
# "Question:/Answer:" format in 11 of 12 tries; with it, all 18 tries kept the format.
DEMO = [
    {"role": "user", "content": USER.format(
        text="The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the company of "
             "Gustave Eiffel and completed in 1889 for the World's Fair.")},
    {"role": "assistant", "content": "Question: In which year was the Eiffel Tower completed?\nAnswer: 1889"},
]
_Q = re.compile(r"^\s*(?:\*\*)?(?:Question|Q)\s*[:.]\s*(?:\*\*)?\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_A = re.compile(r"^\s*(?:\*\*)?(?:Answer|A)\s*[:.]\s*(?:\*\*)?\s*(.+)$", re.IGNORECASE | re.MULTILINE)


@dataclass
class SynthReport:
    kept: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    path: str | None = None

    @property
    def reasons(self) -> dict[str, int]:
        return dict(Counter(r["reason"] for r in self.rejected))

    def summary(self) -> dict[str, Any]:
        return {"kept": len(self.kept), "rejected": len(self.rejected), "reasons": self.reasons,
                "path": self.path}


def parse_pair(text: str) -> tuple[str, str] | None:
    """``Question: ...`` / ``Answer: ...`` lines out of the generator's reply (first of each)."""
    q, a = _Q.search(text), _A.search(text)
    if not q or not a:
        return None
    return q.group(1).strip().strip("*").strip(), a.group(1).strip().strip("*").strip()


def reject_reason(question: str, answer: str, source: str, max_answer_words: int = 12) -> str | None:
    """Why a pair is rejected, or None to keep it (see the module docstring)."""
    a, src, q = normalize_answer(answer), normalize_answer(source), normalize_answer(question)
    if not question.strip().endswith("?"):
        return "not a question"
    if not a:
        return "empty answer"
    if len(a.split()) > max_answer_words:
        return "answer too long"
    if f" {a} " not in f" {src} ":
        return "answer not in source"
    if f" {a} " in f" {q} ":
        return "answer given in the question"
    return None


def roundtrip_ok(question: str, answer: str, chunk: Chunk, generate: GenerateFn,
                 prompts: PromptSettings | None = None) -> bool:
    """Round-trip consistency (Alberti et al. 2019, "Synthetic QA Corpora Generation with Roundtrip
    Consistency"): asked the question with the chunk as context, the generator gives the answer back
    (token F1 >= 0.5 or the answer contained in its reply)."""
    reply = generate(rag_messages(question, [Hit(chunk, 0.0)], prompts or PromptSettings()), 0.0, 0, 32)
    a = normalize_answer(answer)
    return f" {a} " in f" {normalize_answer(reply)} " or token_f1(reply, [answer]) >= 0.5


def build_examples(chunks: Sequence[Chunk], generate: GenerateFn, per_chunk: int = 2, seed: int = 0,
                   max_answer_words: int = 12, progress: bool | None = None, roundtrip: bool = False,
                   prompts: PromptSettings | None = None) -> SynthReport:
    """Ask for ``per_chunk`` pairs per chunk (the first greedy, the others sampled with a seed).

    ``roundtrip`` also drops pairs the generator cannot answer back from the chunk (one more
    generation per surviving pair).
    """
    report = SynthReport()
    seen: set[tuple[str, str]] = set()
    with bar(progress) as p:
        task = p.add_task("synth", total=len(chunks) * per_chunk)
        for c in chunks:
            msgs = [{"role": "system", "content": SYSTEM}, *DEMO,
                    {"role": "user", "content": USER.format(text=c.text)}]
            for k in range(per_chunk):
                reply = generate(msgs, 0.0 if k == 0 else 0.8, seed + k, 96)
                p.advance(task)
                row = {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "source": c.source, "title": c.title,
                       "context": c.text, "raw": reply}
                pair = parse_pair(reply)
                if pair is None:
                    report.rejected.append({**row, "reason": "unparsed"})
                    continue
                q, a = pair
                key = (c.chunk_id, normalize_answer(q))
                reason = reject_reason(q, a, c.text, max_answer_words)
                reason = reason or ("duplicate" if key in seen else None)
                if not reason and roundtrip and not roundtrip_ok(q, a, c, generate, prompts):
                    reason = "failed round trip"
                if reason:
                    report.rejected.append({**row, "question": q, "answer": a, "reason": reason})
                    continue
                seen.add(key)
                row.pop("raw")
                report.kept.append({"question": q, "answer": a, **row})
    return report


def generate_dataset(settings: Any, chunks: Sequence[Chunk], out: str | Path, *, per_chunk: int = 2,
                     seed: int = 0, generate: GenerateFn | None = None, progress: bool | None = None,
                     roundtrip: bool = False) -> SynthReport:
    """Write the kept pairs to ``out`` and the rejected ones (with reasons) beside it."""
    report = build_examples(chunks, generate or make_generate(settings), per_chunk, seed, progress=progress,
                            roundtrip=roundtrip, prompts=settings.prompts)
    out = Path(out).expanduser()
    write_jsonl(out, report.kept)
    write_jsonl(out.with_name(out.stem + ".rejected.jsonl"), report.rejected)
    report.path = str(out)
    if not report.kept:
        raise DataError(
            f"the generator produced no usable pair from {len(chunks)} chunks "
            f"({report.reasons}); see {out.with_name(out.stem + '.rejected.jsonl')}"
        )
    return report


def train(settings: Any, chunks: Sequence[Chunk], out: str | Path, name: str, cfg: TrainConfig, *,
          per_chunk: int = 2, generate: GenerateFn | None = None, base: str | None = None,
          overwrite: bool = False, progress: bool | None = None, roundtrip: bool = False):
    """Generate the dataset (unless ``out`` already exists and resuming), then SFT on it."""
    check_name_free(settings, name, overwrite, cfg.resume)  # before minutes of generation
    out = Path(out).expanduser()
    report = None
    if not (cfg.resume and out.exists()):
        report = generate_dataset(settings, chunks, out, per_chunk=per_chunk, seed=cfg.seed,
                                  generate=generate, progress=progress, roundtrip=roundtrip)
    extra = {"synth": report.summary() if report else {"path": str(out), "reused": True}}
    outcome = sft.train(settings, [out], name, cfg, base=base, overwrite=overwrite, progress=progress,
                        recipe="synth", extra=extra)
    return outcome, report
