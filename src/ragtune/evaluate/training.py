"""The trained contenders of a comparison, built by the very recipes ``ragtune train`` runs.

Each contender writes its training data into the workspace as the JSONL file a user would pass
and calls the recipe's entry point with the TrainConfig of the experiment's ``[train]``, then
exports the LoRA adapter as GGUF like the command does, so every mode answers with the same
llama.cpp engine and a number in the report is the number the command gives:

- ``ft`` puts the knowledge in the weights: ``ragtune train sft --data ft.jsonl --kb docs``, the
  training questions in the closed-book prompt the ``ft`` mode is asked with, plus the knowledge
  base's chunks as plain text (continued pre-training mixed in) when ``cpt_docs``;
- ``raft`` (Zhang et al. 2024) trains on the RAG prompt itself: ``ragtune train raft --data
  raft.jsonl --kb docs --distractors K --p-drop P [--reader focus --focus-sentences N]`` (see
  ``train/raft.py``); with the focus reader it trains on, and answers with, the passages' best
  sentences instead of whole passages;
- the classifier of a classification experiment: ``ragtune train classify --data train.jsonl
  --val-data val.jsonl --method M``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.evaluate.datasets import Labeled, Question
from ragtune.evaluate.docfiles import safe_name
from ragtune.evaluate.workspace import fingerprint
from ragtune.generate.reader import reader_record
from ragtune.kb import dir_size, kb_chunks
from ragtune.modeling import load_tokenizer
from ragtune.registry import resolve
from ragtune.train.config import TrainConfig
from ragtune.train.data import QAItem, write_jsonl
from ragtune.train.recipes import recipe
from ragtune.types import Chunk


@dataclass
class Contender:
    """One model to train: its recipe, the rows of its data file, its config and recipe options."""

    name: str
    recipe: str  # sft | raft
    rows: list[dict[str, Any]]
    cfg: TrainConfig
    kb: str | None = None  # the knowledge base whose chunks it trains on (sft: as text; raft: passages)
    options: dict[str, Any] = field(default_factory=dict)  # recipe keyword options (raft: k, p_drop)

    def fingerprint(self, settings: Settings) -> str:
        """Everything the trained weights depend on: stage records are reused only when it matches."""
        chunks = [(c.doc_id, c.text) for c in self.chunks(settings)] if self.kb else None
        return fingerprint(self.name, self.recipe, self.rows, chunks, self.cfg.model_dump(), self.options,
                           settings.prompts.model_dump(), settings.models.generator, settings.models.embedder)

    def chunks(self, settings: Settings) -> list[Chunk]:
        return kb_chunks(settings, self.kb) if self.kb else []

    def train(self, settings: Settings, folder: Path, progress: bool | None = None) -> dict[str, Any]:
        """Write the data file into ``folder``, train through the recipe, export; the stage record."""
        from ragtune.train.runner import export_for_llamacpp  # lazy: torch (ragtune[train])

        data = write_jsonl(Path(folder) / f"{self.name}.jsonl", self.rows)
        t0 = time.perf_counter()
        chunks = self.chunks(settings) or None
        if self.recipe == "sft":
            out = recipe("sft").load()(settings, [data], self.name, self.cfg, chunks=chunks, overwrite=True,
                                       progress=progress)
        elif self.recipe == "raft":
            opts = dict(self.options)
            if "reader" in opts:  # recorded as a plain table; the recipe takes [reader] settings
                opts["reader"] = settings.reader.model_copy(update=opts["reader"])
            out = recipe("raft").load()(settings, [data], self.name, self.cfg, chunks=chunks, overwrite=True,
                                        progress=progress, **opts)
        else:
            raise ValueError(f"no contender recipe {self.recipe!r}")
        info = export_for_llamacpp(settings, out).info
        peft = dir_size(info.folder / "adapter")
        gguf = info.exports.get("gguf-adapter")
        return {"name": self.name, "recipe": self.recipe, "data": str(data), "kb": self.kb, "options": self.options,
                "setup_s": time.perf_counter() - t0, "adapter_bytes": Path(gguf).stat().st_size if gguf else peft,
                "peft_bytes": peft, "metrics": info.metrics, "examples": info.metrics.get("n_train"),
                "examples_sha256": info.extra.get("examples_sha256"), "config": self.cfg.model_dump()}


def long_questions(settings: Settings, contender: Contender) -> list[str]:
    """The ids of an sft contender's question rows longer than its ``max_seq_len``, before any training.

    Each row is tokenised exactly as the recipe will (the closed-book chat of ``sft``), so the
    count is the one training would meet; the knowledge base's text needs no check (it is cut
    into blocks that fit). Other recipes build their prompts while training (raft draws its
    passages then): they skip long rows (``skip_long``) and report the count afterwards.
    """
    if contender.recipe != "sft" or not contender.rows:
        return []
    from ragtune.train.sft import item_messages, tokenize_chat  # lazy: torch (ragtune[train])

    tok = load_tokenizer(resolve(settings.models.generator, settings))
    long = []
    for r in contender.rows:
        item = QAItem(where=str(r["id"]), kind="qa", question=r["question"], answer=r["answer"])
        if len(tokenize_chat(tok, item_messages(item, settings.prompts))) > contender.cfg.max_seq_len:
            long.append(str(r["id"]))
    return long


def skipped_note(contender: Contender, skipped: int, total: int) -> str:
    """The line the report and results.json get when training left long examples out."""
    return (f"{contender.name}: {skipped} of {total} training examples are longer than max_seq_len "
            f"{contender.cfg.max_seq_len} tokens and were skipped (raise train.max_seq_len to keep them)")


def ft_contender(name: str, questions: list[Question], cfg: TrainConfig, kb: str | None,
                 answers: dict[str, str] | None = None) -> Contender:
    """Closed-book QA rows (each question's first answer, or ``answers[id]``), the KB's text mixed in."""
    rows = [{"id": q.id, "question": q.question, "answer": (answers or {}).get(q.id) or q.answers[0]}
            for q in questions]
    return Contender(name, "sft", rows, cfg, kb)


def raft_contender(settings: Settings, name: str, questions: list[Question], cfg: TrainConfig, kb: str, *,
                   k: int, p_drop: float, reader: str = "plain", focus_sentences: int = 1) -> Contender:
    """RAFT rows over the KB's chunks; each question names its document as the KB knows it.

    A question whose document is not in the knowledge base has no oracle and is left out.
    ``reader = "focus"`` trains on the focus reader's prompt (the ``focus_sentences`` best sentences
    of the passages, chosen with ``[reader] similarity_weight``); the model records it and answers with that prompt.
    """
    kb_ids = {Path(c.source).stem: c.doc_id for c in kb_chunks(settings, kb)}
    rows = [{"id": q.id, "question": q.question, "answer": q.answers[0], "doc_id": kb_ids[safe_name(q.doc_id)]}
            for q in questions if q.doc_id and safe_name(q.doc_id) in kb_ids]
    options: dict[str, Any] = {"k": k, "p_drop": p_drop}
    if reader == "focus":
        options["reader"] = reader_record(settings.reader.model_copy(update={"method": "focus",
                                                                             "focus_sentences": focus_sentences}))
    elif reader != "plain":
        raise ValueError(f"raft reader {reader!r}: use plain or focus")
    return Contender(name, "raft", rows, cfg, kb, options)


def train_classifier(settings: Settings, name: str, method: str, train: list[Labeled], val: list[Labeled],
                     cfg: TrainConfig, folder: Path, progress: bool | None = None) -> dict[str, Any]:
    """``ragtune train classify`` on the given split, written as the files the command reads."""
    files = {part: [write_jsonl(Path(folder) / f"{name}-{part}.jsonl",
                                [{"id": r.id, "text": r.text, "label": r.label} for r in rows])] if rows else []
             for part, rows in (("train", train), ("val", val))}
    t0 = time.perf_counter()
    info = recipe("classify").load()(settings, name, files["train"], files["val"], method, cfg, overwrite=True,
                                     progress=progress)
    return {"name": name, "path": info.path, "setup_s": time.perf_counter() - t0, "bytes": dir_size(info.folder),
            "metrics": info.metrics}
