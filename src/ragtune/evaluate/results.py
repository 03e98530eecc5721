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
    summarize(res)           # ragtune.evaluate.stats: per-mode table with bootstrap CIs, latency, ...
    res.save(out_dir / "results.json")

The record of one answer is in :mod:`ragtune.evaluate.items`, the statistics derived from the
answers in :mod:`ragtune.evaluate.stats`, the machine probe in :mod:`ragtune.evaluate.machine`.

Conventions: scores are fractions in [0, 1] (the report shows them x100), times are seconds
unless the name ends in ``_ms``, sizes are bytes, memory is MB.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragtune.errors import DataError
from ragtune.evaluate import metrics as M
from ragtune.evaluate.bootstrap import bootstrap_ci
from ragtune.evaluate.items import ItemCitation, ItemRecord, RetrievedChunk, known_fields
from ragtune.evaluate.machine import machine_info

__all__ = [  # the item records are part of the results.json schema, so they are importable from here too
    "DEFAULT_PRIMARY", "FAMILIES", "SCHEMA_VERSION", "TASK_KINDS", "ClassificationDetail", "ComparisonResults",
    "Estimate", "FreshnessResult", "ItemCitation", "ItemRecord", "ModeCosts", "ModeInfo", "RetrievalQuality",
    "RetrievedChunk", "TaskKind", "mode_family",
]

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

    @property
    def zero_width(self) -> bool:
        """Every item scored the same (or one item): ``[lo, hi]`` is one point, which is no evidence of spread.

        "100.0 [100, 100]" over 24 answers says that all 24 agree, not that the true rate is 100
        for certain; the reports write it as such (see ``evaluate/formatting.estimate``).
        """
        return self.has_ci and self.lo == self.hi

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray, seed: int = 0, n_resamples: int = 1000,
           confidence: float = 0.95, stat: Any = np.mean) -> Estimate:
        """Bootstrap ``stat`` (default mean) of ``values``."""
        point, lo, hi = bootstrap_ci(values, stat=stat, n_resamples=n_resamples, confidence=confidence,
                                     seed=seed)
        return cls(point, lo, hi, len(values))

    @classmethod
    def from_dict(cls, data: dict | None) -> Estimate | None:
        return None if data is None else cls(**known_fields(cls, data))


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
class ModeCosts:
    """What a mode costs to build and run. Every field is optional: fill what was measured.

    ``setup_s`` is the whole build time (ingest for RAG, training for fine-tuning, both for
    ft+rag), with its parts in ``setup_detail`` (``{"ingest_s": .., "train_s": ..}``). Disk
    sizes are bytes: the base model file, the adapter, a merged model, and the index
    (vectors + text). ``tokens_per_s`` is decode speed when answering; ``peak_memory_mb`` the process's peak
    while the mode answered (QA modes answer in turns, so that of all of them). ``merged_bytes`` is a merged
    model in the base model's own format (so the two compare); a merged float folder beside a
    quantised base file is not that, and is kept apart in ``merged_float_bytes``.
    """

    setup_s: float | None = None
    setup_detail: dict[str, float] = field(default_factory=dict)
    base_model_bytes: int | None = None
    adapter_bytes: int | None = None
    merged_bytes: int | None = None
    merged_float_bytes: int | None = None
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
        data = known_fields(cls, data)
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


@dataclass
class ComparisonResults:
    """Everything one ``ragtune compare`` run produced. See the module docstring for filling it.

    ``metrics`` is the per-mode table, ``metrics[mode][metric] -> Estimate``, computed from
    ``items`` by ``stats.summarize()`` (the runner may also set entries directly). ``classification``
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
    # The claim experiments (plain JSON sections; see evaluate/learning_curve, kb_quality, versatility and
    # the removed facts of evaluate/freshness). None when the experiment did not run them.
    learning_curve: dict[str, Any] | None = None
    kb_quality: dict[str, Any] | None = None
    versatility: dict[str, Any] | None = None
    removed_facts: dict[str, Any] | None = None
    classification: dict[str, ClassificationDetail] = field(default_factory=dict)
    # What each stage cost (evaluate/costs.py): wall time, peak memory, training tokens/s and threads, and
    # how the answers were given ("answer": interleaved, concurrency, whether the latencies compare).
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
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

    # --- reading

    def labels(self) -> list[str]:
        """The classes of a classification run: config["labels"] when given, else every true label seen.

        Macro-F1 averages over these classes; a prediction outside them (an invalid
        generation) counts as an error and shows as its own column of the confusion matrix.
        """
        if self.config.get("labels"):
            return [str(x) for x in self.config["labels"]]
        return sorted({str(it.references[0]) for it in self.items if it.references})

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
        base = known_fields(cls, data)
        base["modes"] = [ModeInfo(**known_fields(ModeInfo, m)) for m in data.get("modes", [])]
        base["metrics"] = {mode: {k: Estimate.from_dict(v) for k, v in table.items()}
                           for mode, table in data.get("metrics", {}).items()}
        base["items"] = [ItemRecord.from_dict(i) for i in data.get("items", [])]
        base["retrieval"] = [RetrievalQuality.from_dict(r) for r in data.get("retrieval", [])]
        base["costs"] = {mode: ModeCosts(**known_fields(ModeCosts, c)) for mode, c in data.get("costs", {}).items()}
        base["freshness"] = [FreshnessResult.from_dict(f) for f in data.get("freshness", [])]
        base["classification"] = {mode: ClassificationDetail(**known_fields(ClassificationDetail, c))
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
