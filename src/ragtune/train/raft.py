"""RAFT, retrieval-augmented fine-tuning (Zhang et al. 2024, "RAFT: Adapting Language Model to
Domain Specific RAG", arXiv:2403.10131): train on the RAG prompt itself.

Each question becomes the prompt ``ragtune ask --mode rag`` would send (``[prompts] system``,
numbered passages, the question) with

- its oracle passage (the chunk that answers it) and ``k`` distractors: the chunks the embedder
  finds nearest to the question among the others, i.e. the passages retrieval would really
  show; chunks that contain the answer themselves are never used as distractors;
- for a share ``p_drop`` of the questions (default 0.2; exactly ``round(p_drop * n)`` of them,
  chosen with the seed) the oracle is left out and one more distractor takes its place, so the
  model also learns what to do when retrieval misses: the paper trains it to answer from memory
  (``dropped_answer="answer"``); ``"abstain"`` trains the configured "I don't know" instead;
- the passages in a seeded random order, and the answer citing the oracle's number: ``Denver
  Broncos [2]``;
- with ``reader`` (a ``[reader]`` section whose ``method`` is ``focus``) the prompt is the focus
  reader's instead: only the passage sentences that best match the question, under their
  passage's number (generate/reader.py), exactly what ``rag`` sends with that reader. When the
  kept sentences of the oracle do not hold the answer, the target is the answer without a
  citation, as for a dropped oracle.

The loss is on the answer only (the SFT mask), so the model learns to find and cite, not to
reproduce passages.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.config import PromptSettings, ReaderSettings
from ragtune.embedding import get_embedder
from ragtune.errors import DataError
from ragtune.generate.prompts import rag_messages
from ragtune.generate.reader import focus_hits, reader_record
from ragtune.registry import resolve
from ragtune.text import normalize_answer
from ragtune.train.config import RAFT_DISTRACTORS, RAFT_DROPPED_ANSWER, RAFT_P_DROP, TrainConfig
from ragtune.train.data import Example, QAItem, load_qa, sha256_files, sha256_texts, write_jsonl
from ragtune.train.runner import Dataset, Outcome, run_recipe, split_examples
from ragtune.train.sft import tokenize_chat
from ragtune.types import Chunk, Hit

EmbedFn = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised vectors


@dataclass
class RaftRow:
    """One RAFT example before tokenising (``to_dict`` is what gets written for inspection)."""

    where: str
    question: str
    answer: str
    oracle_id: str
    passages: list[Chunk]
    oracle_position: int | None  # 1-based number of the oracle in the prompt; None when dropped
    messages: list[dict[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "question": self.question, "answer": self.answer,
                "oracle_id": self.oracle_id, "oracle_position": self.oracle_position,
                "passages": [c.chunk_id for c in self.passages], "messages": self.messages}


def _contains(haystack: str, answer: str) -> bool:
    a = normalize_answer(answer)
    return bool(a) and f" {a} " in f" {normalize_answer(haystack)} "


def find_oracles(items: Sequence[QAItem], chunks: list[Chunk]) -> tuple[list[int], list[Chunk]]:
    """The index of each item's oracle chunk, by ``chunk_id``, else ``doc_id``, else ``context``.

    Within a document the chunk containing the answer is the oracle. A ``context`` found in no
    chunk becomes a chunk of its own, so a QA file with contexts needs no corpus at all.
    Returns the indices and the (possibly extended) chunk list.
    """
    chunks = list(chunks)
    by_id = {c.chunk_id: i for i, c in enumerate(chunks)}
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_doc.setdefault(c.doc_id, []).append(i)
        if "#" in c.doc_id:  # ingest ids are PATH#ROW_ID; QA files name the row id
            by_doc.setdefault(c.doc_id.rsplit("#", 1)[1], []).append(i)
    by_text = {c.text.strip(): i for i, c in enumerate(chunks)}
    out = []
    for it in items:
        if it.kind != "qa":
            raise DataError(f"{it.where}: raft needs question/answer rows, not {it.kind} rows")
        if it.chunk_id and it.chunk_id in by_id:
            out.append(by_id[it.chunk_id])
        elif it.doc_id and it.doc_id in by_doc:
            cands = by_doc[it.doc_id]
            out.append(next((i for i in cands if _contains(chunks[i].text, it.answer)), cands[0]))
        elif it.context:
            text = it.context.strip()
            if text not in by_text:
                by_text[text] = len(chunks)
                chunks.append(Chunk(f"context-{sha256_texts([text])[:16]}", f"context:{it.where}", it.where, text))
            out.append(by_text[text])
        else:
            raise DataError(
                f"{it.where}: cannot find this question's source passage; give the row a context, a doc_id "
                "or chunk_id that is in the corpus, and pass the corpus with --kb or --corpus"
            )
    return out, chunks


def nearest_distractors(q_vecs: np.ndarray, c_vecs: np.ndarray, oracles: Sequence[int], k: int,
                        skip: Callable[[int, int], bool] = lambda qi, j: False) -> list[list[int]]:
    """For each question the ``k`` chunks most cosine-similar to it, other than its oracle and
    those ``skip(question_index, chunk_index)`` rejects (vectors are L2-normalised: dot = cosine)."""
    sims = q_vecs @ c_vecs.T
    out = []
    for qi, row in enumerate(sims):
        picked: list[int] = []
        for j in np.argsort(-row, kind="stable"):
            j = int(j)
            if j != oracles[qi] and not skip(qi, j):
                picked.append(j)
                if len(picked) == k:
                    break
        out.append(picked)
    return out


def build_rows(items: Sequence[QAItem], chunks: list[Chunk], embed: EmbedFn, *, k: int = RAFT_DISTRACTORS,
               p_drop: float = RAFT_P_DROP, seed: int = 0, prompts: PromptSettings | None = None,
               dropped_answer: str = RAFT_DROPPED_ANSWER, chunk_vectors: np.ndarray | None = None,
               reader: ReaderSettings | None = None) -> list[RaftRow]:
    """RAFT rows for ``items`` over the corpus ``chunks`` (see the module docstring)."""
    if not 0 <= p_drop <= 1:
        raise DataError(f"p_drop must be between 0 and 1, got {p_drop}")
    if dropped_answer not in ("answer", "abstain"):
        raise DataError(f"dropped_answer must be 'answer' or 'abstain', got {dropped_answer!r}")
    prompts = prompts or PromptSettings()
    oracles, chunks = find_oracles(items, chunks)
    if len(chunks) < k + 2:
        raise DataError(f"raft needs at least {k + 2} distinct passages for {k} distractors; got {len(chunks)}")
    if chunk_vectors is None or len(chunk_vectors) != len(chunks):
        chunk_vectors = embed([c.text for c in chunks])
    q_vecs = embed([it.question for it in items])
    texts = [c.text.strip() for c in chunks]
    norm = [f" {normalize_answer(t)} " for t in texts]
    answers = [f" {normalize_answer(it.answer)} " for it in items]

    def skip(qi: int, j: int) -> bool:  # a copy of the oracle, or any passage with the answer in it
        return texts[j] == texts[oracles[qi]] or (answers[qi].strip() != "" and answers[qi] in norm[j])

    near = nearest_distractors(q_vecs, chunk_vectors, oracles, k + 1, skip)
    rng = random.Random(seed)
    dropped = set(rng.sample(range(len(items)), round(p_drop * len(items))))
    rows = []
    for i, it in enumerate(items):
        if len(near[i]) < k + 1:
            raise DataError(f"{it.where}: only {len(near[i])} other passages lack the answer; need {k + 1}")
        keep_oracle = i not in dropped
        ids = ([oracles[i]] + near[i][:k]) if keep_oracle else near[i][: k + 1]
        rng.shuffle(ids)
        passages = [chunks[j] for j in ids]
        pos = ids.index(oracles[i]) + 1 if keep_oracle else None
        hits = [Hit(c, 0.0) for c in passages]
        if reader is not None and reader.method == "focus":  # what reader_messages sends with this reader
            kept, numbers = focus_hits(it.question, hits, reader.focus_sentences, embed, reader.similarity_weight)
            msgs = rag_messages(it.question, kept, prompts, numbers=numbers)
            if pos is not None and (pos not in numbers or not _contains(kept[numbers.index(pos)].chunk.text,
                                                                        it.answer)):
                pos = None  # the focus reader kept none of the oracle's answer sentences
        else:
            msgs = rag_messages(it.question, hits, prompts)
        if pos is not None:
            answer = f"{it.answer} [{pos}]"
        else:
            answer = it.answer if dropped_answer == "answer" else prompts.no_answer
        msgs.append({"role": "assistant", "content": answer})
        rows.append(RaftRow(it.where, it.question, it.answer, chunks[oracles[i]].chunk_id, passages, pos, msgs))
    return rows


def build_examples(rows: Sequence[RaftRow], tokenizer: Any) -> list[Example]:
    return [tokenize_chat(tokenizer, r.messages, r.where) for r in rows]


def embedder_fn(settings: Any) -> EmbedFn:
    emb = get_embedder(resolve(settings.models.embedder, settings))
    return lambda texts: emb.encode(texts)


def train(settings: Any, data: Sequence[str | Path], name: str, cfg: TrainConfig, *,
          chunks: list[Chunk] | None = None, val_data: Sequence[str | Path] | None = None,
          k: int = RAFT_DISTRACTORS, p_drop: float = RAFT_P_DROP, dropped_answer: str = RAFT_DROPPED_ANSWER,
          base: str | None = None, overwrite: bool = False, progress: bool | None = None,
          embed: EmbedFn | None = None, reader: ReaderSettings | None = None) -> Outcome:
    """RAFT on QA files over ``chunks`` (a knowledge base's or a corpus's; None: the rows' contexts).

    ``reader`` trains on the focus reader's prompt (a reader adapter for ``[reader] method = focus``);
    None or ``plain``: the whole passages.

    The rows are written to ``raft_examples.jsonl`` in the model folder for inspection.
    """
    items = load_qa(list(data))
    val_items = load_qa(list(val_data)) if val_data else []
    embed = embed or embedder_fn(settings)
    corpus = list(chunks or [])
    rows = build_rows(items, corpus, embed, k=k, p_drop=p_drop, seed=cfg.seed, prompts=settings.prompts,
                      dropped_answer=dropped_answer, reader=reader)
    val_rows = build_rows(val_items, corpus, embed, k=k, p_drop=p_drop, seed=cfg.seed + 1,
                          prompts=settings.prompts, dropped_answer=dropped_answer, reader=reader) if val_items else []
    files = [*data, *(val_data or [])]
    focus = reader is not None and reader.method == "focus"
    shown = reader_record(reader) if focus else {"method": "plain"}
    # the focus reader's prompts are other examples from the same files: another fingerprint
    sha = sha256_texts([sha256_files(files), *(c.text for c in corpus), *([repr(sorted(shown.items()))] * focus)])
    extra = {"raft": {"k": k, "p_drop": p_drop, "dropped_answer": dropped_answer, "passages": len(corpus),
                      "dropped": sum(r.oracle_position is None for r in rows), "reader": shown}}

    def build(tok: Any) -> Dataset:
        train_ex, val_ex = split_examples(build_examples(rows, tok), build_examples(val_rows, tok), cfg)
        return Dataset(train_ex, val_ex, sha, [str(f) for f in files], extra)

    def keep_rows(folder: Path) -> None:
        write_jsonl(folder / "raft_examples.jsonl", [r.to_dict() for r in rows + val_rows])

    return run_recipe(settings, "raft", name, build, cfg, base=base, overwrite=overwrite, progress=progress,
                      prepare=keep_rows)
