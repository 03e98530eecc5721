"""The record of one comparison run: what ran, every answer, and every number derived from them.

One ``ComparisonResults`` object is filled in step by step by the experiment runner and then
saved as ``results.json``; the report, the recommendation and ``ragtune runs show`` read only
this object, so any number in a report can be traced back to the answers behind it.

Filling it in::

    res = ComparisonResults.new("squad-small", task="qa", config=cfg.model_dump(), seed=0)
    res.add_mode("rag", model="smollm2-135m-instruct", kb="squad")
    res.add_mode("rag/top1", description="only the best chunk in the prompt")
    res.add_item(ItemRecord(item_id="q1", mode="rag", question=..., references=[...],
                            prediction=..., scores=qa_scores(...), latency_ms=812.0))
    res.set_costs("rag", setup_s=14.2, index_bytes=3_100_000)
    res.add_freshness(FreshnessResult(mode="rag", n=40, new_after=Estimate(0.6, 0.45, 0.75, 40)))
    res.summarize()          # per-mode table with bootstrap CIs, latency, confusion matrices
    res.save(out_dir / "results.json")

Conventions: scores are fractions in [0, 1] (the report shows them x100), times are seconds
unless the name ends in ``_ms``, sizes are bytes, memory is MB.
"""

from __future__ import annotations

import json
import math
import os
import platform
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragtune.errors import DataError
from ragtune.evaluate import metrics as M
from ragtune.evaluate.bootstrap import bootstrap_ci, paired_bootstrap_diff

SCHEMA_VERSION = 1
TaskKind = Literal["qa", "classification"]
TASK_KINDS = ("qa", "classification")
FAMILIES = ("base", "rag", "fine-tuning", "both")
DEFAULT_PRIMARY = {"qa": "token_f1", "classification": "macro_f1"}

_FAMILY_OF_HEAD = {
    "base": "base", "zero-shot": "base", "closed-book": "base",
    "rag": "rag", "knn": "rag",
    "ft": "fine-tuning", "sft": "fine-tuning", "cpt": "fine-tuning", "fine-tuning": "fine-tuning",
    "classifier": "fine-tuning",
    "ft+rag": "both", "raft": "both", "both": "both",
}


def mode_family(name: str) -> str:
    """Which side of the debate a mode stands for: base, rag, fine-tuning or both.

    The part before the first "/" decides, so "rag/few-shot" is a RAG variant and "raft"
    (a fine-tuned model reading retrieved chunks) counts as both.
    """
    head = name.split("/", 1)[0].strip().lower()
    if head not in _FAMILY_OF_HEAD:
        raise DataError(f"cannot tell the family of mode {name!r}: pass family= one of {', '.join(FAMILIES)}")
    return _FAMILY_OF_HEAD[head]


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _known(cls: type, data: dict) -> dict:
    """Only the keys ``cls`` has, so a newer results.json with extra fields still loads."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class Estimate:
    """A number with its bootstrap interval: ``value`` in [``lo``, ``hi``] over ``n`` items.

    ``lo``/``hi`` are None when no interval was computed (a single measurement such as a
    wall time, or a number given by the runner without per-item data).
    """

    value: float
    lo: float | None = None
    hi: float | None = None
    n: int = 0

    @property
    def has_ci(self) -> bool:
        return self.lo is not None and self.hi is not None

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray, seed: int = 0, n_resamples: int = 1000,
           confidence: float = 0.95, stat: Any = np.mean) -> Estimate:
        """Bootstrap ``stat`` (default mean) of ``values``."""
        point, lo, hi = bootstrap_ci(values, stat=stat, n_resamples=n_resamples, confidence=confidence,
                                     seed=seed)
        return cls(point, lo, hi, len(values))

    @classmethod
    def from_dict(cls, data: dict | None) -> Estimate | None:
        return None if data is None else cls(**_known(cls, data))


@dataclass
class ModeInfo:
    """One contender. Variants ("rag/top1", "rag/few-shot") are modes of their own.

    ``family`` places the mode in the debate (base | rag | fine-tuning | both) and is
    derived from the name when empty; ``params`` holds what distinguishes it (retriever,
    top_k, prompt template, recipe, training steps).
    """

    name: str
    family: str = ""
    description: str = ""
    model: str = ""
    adapter: str | None = None
    kb: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.family = self.family or mode_family(self.name)
        if self.family not in FAMILIES:
            raise DataError(f"mode {self.name!r} has family {self.family!r}: "
                            f"use one of {', '.join(FAMILIES)}")

    @property
    def variant_of(self) -> str | None:
        """The mode this one varies ("rag" for "rag/top1"), None for a plain mode."""
        return self.name.split("/", 1)[0] if "/" in self.name else None


@dataclass
class RetrievedChunk:
    """A chunk that was put into the prompt, in rank order."""

    chunk_id: str
    text: str
    score: float | None = None
    doc_id: str = ""
    source: str = ""


@dataclass
class ItemCitation:
    """A numbered reference ``[n]`` of an answer and the chunk it points at."""

    number: int
    chunk_id: str
    source: str = ""
    text: str = ""
    cited: bool = True  # the passage supports a sentence of the answer (model-written or attributed)
    method: str = ""  # "model" | "attributed" | "unsupported" | "" (see generate/citations.py)
    spans: list[list[int]] = field(default_factory=list)  # supporting character spans in ``text``


@dataclass
class ItemRecord:
    """One answer of one mode to one test item, with everything needed to trace it.

    ``references`` holds the gold answers (QA) or the one true label (classification);
    ``prediction`` is the answer text or the predicted label. ``scores`` maps metric names
    (see ``metrics.METRICS``) to this item's score; ``gold_ids`` lists the known source ids
    of the answer for retrieval quality. ``tokens`` holds ``prompt_tokens`` and
    ``completion_tokens`` (as ``Answer.usage``); ``extra`` anything else worth keeping (the
    engine timings, the model, adapter and knowledge-base version, label probabilities).
    """

    item_id: str
    mode: str
    question: str
    references: list[str]
    prediction: str
    prompt: str = ""
    retrieved: list[RetrievedChunk] = field(default_factory=list)
    citations: list[ItemCitation] = field(default_factory=list)
    gold_ids: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    latency_ms: float | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    sentences: list[dict[str, Any]] = field(default_factory=list)  # Answer.sentences: support per sentence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ItemRecord:
        data = _known(cls, data)
        data["retrieved"] = [RetrievedChunk(**_known(RetrievedChunk, r)) for r in data.get("retrieved", [])]
        data["citations"] = [ItemCitation(**_known(ItemCitation, c)) for c in data.get("citations", [])]
        return cls(**data)

    @classmethod
    def from_answer(cls, answer: Any, item_id: str, references: Sequence[str], *,
                    latency_ms: float | None = None, gold_ids: Sequence[str] = (),
                    scores: dict[str, float] | None = None,
                    extra: dict[str, Any] | None = None) -> ItemRecord:
        """Build a record from a ``ragtune.types.Answer`` (hits, citations, prompt, usage, timings).

        The latency defaults to the answer's ``timings["total_ms"]``; the model, adapter,
        knowledge-base version, abstention and engine timings go into ``extra``.
        """
        retrieved = [RetrievedChunk(h.chunk.chunk_id, h.chunk.text, float(h.score), h.chunk.doc_id,
                                    h.chunk.source) for h in answer.hits]
        citations = [ItemCitation(c.number, c.chunk_id, c.source, c.text, c.cited, c.method,
                                  [list(sp) for sp in c.spans]) for c in answer.citations]
        if latency_ms is None:
            t = answer.timings or {}
            latency_ms = t.get("total_ms") or (1000.0 * t["total_s"] if "total_s" in t else None)
        kept = {"model": answer.model, "adapter": answer.adapter, "kb": answer.kb,
                "kb_version": answer.kb_version, "abstained": answer.abstained,
                "timings": dict(answer.timings or {})}
        kept.update(extra or {})
        return cls(item_id=item_id, mode=answer.mode, question=answer.question, references=list(references),
                   prediction=answer.text, prompt=answer.prompt, retrieved=retrieved, citations=citations,
                   gold_ids=list(gold_ids), scores=dict(scores or {}), latency_ms=latency_ms,
                   tokens=dict(answer.usage or {}), extra=kept,
                   sentences=[x.to_dict() for x in getattr(answer, "sentences", [])])


@dataclass
class ModeCosts:
    """What a mode costs to build and run. Every field is optional: fill what was measured.

    ``setup_s`` is the whole build time (ingest for RAG, training for fine-tuning, both for
    ft+rag), with its parts in ``setup_detail`` (``{"ingest_s": .., "train_s": ..}``). Disk
    sizes are bytes: the base model file, the adapter, a merged model, and the index
    (vectors + text). ``tokens_per_s`` is decode speed when answering.
    """

    setup_s: float | None = None
    setup_detail: dict[str, float] = field(default_factory=dict)
    base_model_bytes: int | None = None
    adapter_bytes: int | None = None
    merged_bytes: int | None = None
    index_bytes: int | None = None
    peak_memory_mb: float | None = None
    tokens_per_s: float | None = None

    def added_bytes(self) -> int:
        """Bytes this mode adds on top of the base model: its adapter and its index.

        A merged model is the alternative to base + adapter, not an addition to it, so it only
        counts when there is no adapter (full fine-tuning).
        """
        weights = self.adapter_bytes if self.adapter_bytes is not None else self.merged_bytes
        return sum(v or 0 for v in (weights, self.index_bytes))


@dataclass
class FreshnessResult:
    """The knowledge-update experiment for one mode (question, old fact, new fact).

    Everything is built on the old facts, then the knowledge base is updated with the new
    facts (fine-tuned weights are not retrained by the update). ``new_before``: accuracy on
    the new answers before the update; ``new_after``: after it; ``old_after``: how often the
    old, now wrong, answer is still given after it. ``update_s``: wall time of the update
    (RAG); ``retrain_s``: wall time of retraining on the new facts (fine-tuning), with
    ``new_after_retrain``/``old_after_retrain`` measured on the retrained model. ``metric``
    names the per-item score behind the accuracies.
    """

    mode: str
    n: int = 0
    metric: str = "answer_recall"
    new_before: Estimate | None = None
    new_after: Estimate | None = None
    old_after: Estimate | None = None
    update_s: float | None = None
    retrain_s: float | None = None
    new_after_retrain: Estimate | None = None
    old_after_retrain: Estimate | None = None

    @classmethod
    def from_dict(cls, data: dict) -> FreshnessResult:
        data = _known(cls, data)
        for key in ("new_before", "new_after", "old_after", "new_after_retrain", "old_after_retrain"):
            data[key] = Estimate.from_dict(data.get(key))
        return cls(**data)


@dataclass
class RetrievalQuality:
    """Retrieval quality of one retriever over the queries whose gold source is known."""

    retriever: str
    n: int
    metrics: dict[str, Estimate] = field(default_factory=dict)

    @classmethod
    def from_rankings(cls, retriever: str, rankings: Sequence[Sequence[str]], golds: Sequence[Sequence[str]],
                      ks: Iterable[int] = (1, 3, 5, 10), seed: int = 0) -> RetrievalQuality:
        """Score ranked id lists against gold id lists: recall@k for each k, MRR@10, nDCG@10."""
        if len(rankings) != len(golds):
            raise DataError(f"{len(rankings)} rankings but {len(golds)} gold lists: they must pair up")
        pairs = [(r, g) for r, g in zip(rankings, golds, strict=True) if g]
        if not pairs:
            raise DataError(f"retriever {retriever!r}: no query has a known gold source")
        per_metric: dict[str, list[float]] = {f"recall@{k}": [M.recall_at_k(r, g, k) for r, g in pairs]
                                              for k in ks}
        per_metric["mrr@10"] = [M.mrr_at_k(r, g, 10) for r, g in pairs]
        per_metric["ndcg@10"] = [M.ndcg_at_k(r, g, 10) for r, g in pairs]
        return cls(retriever, len(pairs), {name: Estimate.of(v, seed=seed) for name, v in per_metric.items()})

    @classmethod
    def from_dict(cls, data: dict) -> RetrievalQuality:
        return cls(data["retriever"], data.get("n", 0),
                   {k: Estimate.from_dict(v) for k, v in data.get("metrics", {}).items()})


@dataclass
class ClassificationDetail:
    """Confusion matrix (rows = true label, columns = predicted) and per-class F1 of one mode."""

    labels: list[str]
    matrix: list[list[int]]
    per_class_f1: dict[str, float]


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: OS, CPU, cores, memory, library versions."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        from ragtune.runlog import library_versions

        info["versions"] = library_versions()
    except ImportError:  # pragma: no cover - runlog is part of the package
        pass
    return info


@dataclass
class ComparisonResults:
    """Everything one ``ragtune compare`` run produced. See the module docstring for filling it.

    ``metrics`` is the per-mode table, ``metrics[mode][metric] -> Estimate``, computed from
    ``items`` by ``summarize()`` (the runner may also set entries directly). ``classification``
    holds confusion matrices per mode; ``recommendation`` is stored by the report so that
    results.json carries the advice that was shown.
    """

    run_id: str
    name: str
    task: str
    created: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    primary_metric: str = ""
    modes: list[ModeInfo] = field(default_factory=list)
    metrics: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    items: list[ItemRecord] = field(default_factory=list)
    retrieval: list[RetrievalQuality] = field(default_factory=list)
    costs: dict[str, ModeCosts] = field(default_factory=dict)
    freshness: list[FreshnessResult] = field(default_factory=list)
    classification: dict[str, ClassificationDetail] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    recommendation: dict[str, Any] | None = None
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.task not in TASK_KINDS:
            raise DataError(f"task kind {self.task!r} is not known: use one of {', '.join(TASK_KINDS)}")
        self.primary_metric = self.primary_metric or DEFAULT_PRIMARY[self.task]
        self.created = self.created or datetime.now(UTC).isoformat(timespec="seconds")

    @classmethod
    def new(cls, name: str, task: str, config: dict[str, Any] | None = None, seed: int = 0,
            run_id: str | None = None, primary_metric: str = "") -> ComparisonResults:
        """A fresh record with an id, the creation time and this machine's description."""
        return cls(run_id=run_id or uuid.uuid4().hex[:12], name=name, task=task, config=dict(config or {}),
                   seed=seed, primary_metric=primary_metric, machine=machine_info())

    # --- filling in -------------------------------------------------------------------------

    def add_mode(self, mode: str | ModeInfo, **info: Any) -> ModeInfo:
        """Register a contender (idempotent: the same name updates its info)."""
        new = mode if isinstance(mode, ModeInfo) else ModeInfo(name=mode, **info)
        for i, old in enumerate(self.modes):
            if old.name == new.name:
                self.modes[i] = new
                return new
        self.modes.append(new)
        return new

    def mode(self, name: str) -> ModeInfo:
        for m in self.modes:
            if m.name == name:
                return m
        raise DataError(f"mode {name!r} is not in this run: known modes are {', '.join(self.mode_names)}")

    @property
    def mode_names(self) -> list[str]:
        return [m.name for m in self.modes]

    def add_item(self, record: ItemRecord) -> ItemRecord:
        """Keep one answer; an unseen mode is registered on the way."""
        if record.mode not in self.mode_names:
            self.add_mode(record.mode)
        self.items.append(record)
        return record

    def items_for(self, mode: str) -> list[ItemRecord]:
        return [it for it in self.items if it.mode == mode]

    def set_costs(self, mode: str, **values: Any) -> ModeCosts:
        """Set some cost fields of a mode, keeping those set before (fill as they are measured)."""
        costs = self.costs.setdefault(mode, ModeCosts())
        for key, value in values.items():
            if not hasattr(costs, key):
                raise DataError(f"ModeCosts has no field {key!r}")
            if key == "setup_detail":
                costs.setup_detail.update(value)
            else:
                setattr(costs, key, value)
        return costs

    def add_freshness(self, result: FreshnessResult) -> FreshnessResult:
        self.freshness = [f for f in self.freshness if f.mode != result.mode] + [result]
        return result

    def add_retrieval(self, quality: RetrievalQuality) -> RetrievalQuality:
        self.retrieval = [r for r in self.retrieval if r.retriever != quality.retriever] + [quality]
        return quality

    def set_metric(self, mode: str, metric: str, estimate: Estimate) -> None:
        self.metrics.setdefault(mode, {})[metric] = estimate

    def metric(self, mode: str, metric: str) -> Estimate | None:
        return self.metrics.get(mode, {}).get(metric)

    # --- deriving the tables ----------------------------------------------------------------

    def add_context_reliance(self, counterparts: dict[str, str] | None = None) -> int:
        """Score how often each retrieval mode's answer differs from its closed-book counterpart.

        The closed-book answer of the same weights is the answer "with the retrieved text
        removed", so no extra generation is needed: by default every rag-family mode is
        compared with "base" and "ft+rag" with "ft" (when those modes ran). Adds
        ``answer_changed`` and ``no_context_overlap_f1`` to the item scores; returns how many
        items were scored. Call it before ``summarize()``.
        """
        if counterparts is None:
            counterparts = {m.name: "base" for m in self.modes if m.family == "rag"}
            if "ft+rag" in self.mode_names:
                counterparts["ft+rag"] = "ft"
        counted = 0
        for mode, closed in counterparts.items():
            if closed not in self.mode_names:
                continue
            without = {it.item_id: it.prediction for it in self.items_for(closed)}
            for it in self.items_for(mode):
                if it.item_id in without:
                    reliance = M.answer_changed(M.strip_citations(it.prediction), without[it.item_id])
                    it.scores["answer_changed"] = float(reliance.changed)
                    it.scores["no_context_overlap_f1"] = reliance.overlap_f1
                    it.extra.setdefault("context_counterpart", closed)
                    counted += 1
        return counted

    def summarize(self, n_resamples: int = 1000, confidence: float = 0.95) -> ComparisonResults:
        """Compute the per-mode metric table (with bootstrap CIs) from the item records.

        Each per-item score becomes its mean with an interval over the items that have it;
        latency becomes p50 (with an interval), p95 and mean; for classification, accuracy
        and macro-F1 (bootstrapped over items) and the confusion matrix. A mode's decode
        tokens/s is filled from the items' engine timings when the runner did not set it.
        Entries the runner set directly for metrics without item scores are kept.
        """
        boot = {"n_resamples": n_resamples, "confidence": confidence, "seed": self.seed}
        for mode in self.mode_names:
            items = self.items_for(mode)
            if not items:
                continue
            table = self.metrics.setdefault(mode, {})
            if self.task == "classification":
                table.update(self._classification_metrics(mode, items, boot))
            names = sorted({k for it in items for k in it.scores})
            for name in names:
                values = [it.scores[name] for it in items if it.scores.get(name) is not None]
                if values and not (self.task == "classification" and name == "correct"):
                    table[name] = Estimate.of(values, **boot)
            speeds = [it.extra["timings"]["decode_tok_s"] for it in items
                      if it.extra.get("timings", {}).get("decode_tok_s")]
            if speeds and (mode not in self.costs or self.costs[mode].tokens_per_s is None):
                self.set_costs(mode, tokens_per_s=float(np.mean(speeds)))
            latencies = [it.latency_ms for it in items if it.latency_ms is not None]
            if latencies:
                summary = M.latency_summary(latencies)
                table["latency_p50_ms"] = Estimate.of(latencies, stat=np.median, **boot)
                table["latency_p95_ms"] = Estimate(summary["p95"], n=len(latencies))
                table["latency_mean_ms"] = Estimate(summary["mean"], n=len(latencies))
        return self

    def labels(self) -> list[str]:
        """The classes of a classification run: config["labels"] when given, else every true label seen.

        Macro-F1 averages over these classes; a prediction outside them (an invalid
        generation) counts as an error and shows as its own column of the confusion matrix.
        """
        if self.config.get("labels"):
            return [str(x) for x in self.config["labels"]]
        return sorted({str(it.references[0]) for it in self.items if it.references})

    def _classification_metrics(self, mode: str, items: list[ItemRecord], boot: dict) -> dict[str, Estimate]:
        labels = self.labels()
        y_true = [str(it.references[0]) for it in items]
        y_pred = [str(it.prediction) for it in items]
        extra = sorted(set(y_true + y_pred) - set(labels))
        labels = labels + extra  # invalid generations stay visible as their own column
        self.classification[mode] = ClassificationDetail(
            labels=labels, matrix=M.confusion_matrix(y_true, y_pred, labels),
            per_class_f1={str(k): v for k, v in M.per_class_f1(y_true, y_pred, labels).items()})
        code = {label: i for i, label in enumerate(labels)}
        pairs = np.array([[code[t], code[p]] for t, p in zip(y_true, y_pred, strict=True)])
        correct = (pairs[:, 0] == pairs[:, 1]).astype(float)
        classes = range(len(labels) - len(extra))
        return {
            "accuracy": Estimate.of(correct, **boot),
            "macro_f1": Estimate.of(pairs, stat=_macro_f1_stat(classes, len(labels)), **boot),
        }

    def paired(self, mode_a: str, mode_b: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Scores of two modes on the items both answered, aligned by item id."""
        def scores(mode: str) -> dict[str, float]:
            return {it.item_id: it.scores[metric] for it in self.items_for(mode)
                    if it.scores.get(metric) is not None}

        a, b = scores(mode_a), scores(mode_b)
        shared = sorted(a.keys() & b.keys())
        return np.array([a[i] for i in shared], dtype=float), np.array([b[i] for i in shared], dtype=float)

    def paired_difference(self, mode_a: str, mode_b: str, metric: str) -> Estimate | None:
        """Paired-bootstrap interval of mean(metric of a) - mean(metric of b), None without shared items.

        Classification macro-F1 is not an item score; its difference is bootstrapped over the
        shared items' (true, predicted) pairs of both modes.
        """
        boot = {"seed": self.seed}
        if self.task == "classification" and metric in ("macro_f1", "accuracy"):
            return self._paired_classification(mode_a, mode_b, metric, boot)
        a, b = self.paired(mode_a, mode_b, metric)
        if len(a) == 0:
            return None
        point, lo, hi = paired_bootstrap_diff(a, b, **boot)
        return Estimate(point, lo, hi, len(a))

    def _paired_classification(self, mode_a: str, mode_b: str, metric: str, boot: dict) -> Estimate | None:
        labels = self.labels()
        rows_a = {it.item_id: it for it in self.items_for(mode_a)}
        rows_b = {it.item_id: it for it in self.items_for(mode_b)}
        shared = sorted(rows_a.keys() & rows_b.keys())
        if not shared:
            return None
        classes = range(len(labels))
        seen = {str(r.references[0]) for r in rows_a.values()} | {str(r.prediction) for r in rows_a.values()}
        seen |= {str(r.prediction) for r in rows_b.values()}
        labels = labels + sorted(seen - set(labels))
        code = {label: i for i, label in enumerate(labels)}
        rows = np.array([[code[str(rows_a[i].references[0])], code[str(rows_a[i].prediction)],
                          code[str(rows_b[i].prediction)]] for i in shared])
        if metric == "accuracy":
            stat_a = lambda arr: float(np.mean(arr[:, 0] == arr[:, 1]))  # noqa: E731
            stat_b = lambda arr: float(np.mean(arr[:, 0] == arr[:, 2]))  # noqa: E731
        else:
            f1 = _macro_f1_stat(classes, len(labels))
            stat_a = lambda arr: f1(arr[:, [0, 1]])  # noqa: E731
            stat_b = lambda arr: f1(arr[:, [0, 2]])  # noqa: E731
        point, lo, hi = bootstrap_ci(rows, stat=lambda arr: stat_a(arr) - stat_b(arr), **boot)
        return Estimate(point, lo, hi, len(shared))

    # --- saving and loading -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        """Write results.json atomically (a temp file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparisonResults:
        schema = data.get("schema", SCHEMA_VERSION)
        if schema > SCHEMA_VERSION:
            raise DataError(f"results were written by a newer ragtune (schema {schema}): "
                            "upgrade ragtune to read them")
        base = _known(cls, data)
        base["modes"] = [ModeInfo(**_known(ModeInfo, m)) for m in data.get("modes", [])]
        base["metrics"] = {mode: {k: Estimate.from_dict(v) for k, v in table.items()}
                           for mode, table in data.get("metrics", {}).items()}
        base["items"] = [ItemRecord.from_dict(i) for i in data.get("items", [])]
        base["retrieval"] = [RetrievalQuality.from_dict(r) for r in data.get("retrieval", [])]
        base["costs"] = {mode: ModeCosts(**_known(ModeCosts, c)) for mode, c in data.get("costs", {}).items()}
        base["freshness"] = [FreshnessResult.from_dict(f) for f in data.get("freshness", [])]
        base["classification"] = {mode: ClassificationDetail(**_known(ClassificationDetail, c))
                                  for mode, c in data.get("classification", {}).items()}
        return cls(**base)

    @classmethod
    def from_json(cls, text: str) -> ComparisonResults:
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"results are not a valid ragtune results.json ({exc}): "
                            "re-run the comparison") from exc

    @classmethod
    def load(cls, path: str | Path) -> ComparisonResults:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"no results file at {path}: run `ragtune compare` first")
        return cls.from_json(path.read_text(encoding="utf-8"))


def _macro_f1_stat(classes: Iterable[int], n_labels: int):
    """A vectorised macro-F1 over an (n, 2) array of (true, predicted) label codes.

    The average runs over the codes in ``classes`` (the task's classes; codes beyond them are
    invalid predictions, which only count as errors). bincount keeps 1000 resamples fast.
    """
    used = np.zeros(n_labels, dtype=bool)
    used[list(classes)] = True

    def stat(arr: np.ndarray) -> float:
        t, p = arr[:, 0].astype(int), arr[:, 1].astype(int)
        cm = np.bincount(t * n_labels + p, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
        tp = np.diag(cm)
        denom = 2 * tp + (cm.sum(axis=0) - tp) + (cm.sum(axis=1) - tp)
        f1 = np.divide(2 * tp, denom, out=np.zeros(n_labels), where=denom > 0)
        return float(f1[used].mean())

    return stat
