"""An experiment: which data, which task, which contenders, what sizes, which seed.

Written as TOML (``ragtune compare --config experiment.toml``)::

    name = "knowledge"
    task = "qa"                    # qa | classification
    seed = 0
    modes = ["base", "rag", "ft", "ft+rag", "raft"]
    variants = ["rag/top1", "rag/few-shot"]
    concurrency = 1                # answers sent at once to an HTTP generator (local engines: 1)

    [data]
    corpus = "data/corpus.jsonl"       # id, title, text
    questions = "data/qa.jsonl"        # id, question, answers, doc_id
    updates = "data/updates.jsonl"     # optional freshness experiment

    [sizes]
    docs = 30
    test_questions = 40

    [train]                            # TrainConfig overrides for every trained contender
    epochs = 3
    raft_distractors = 2               # ... and the comparison's own options (see TrainSection)

    [train.raft]                       # overrides for one contender only: ft or raft
    max_seq_len = 768

    [settings]                         # any ragtune.toml setting, for every mode alike
    generation.max_tokens = 32

    [decide]                           # optional: `ragtune compare --until-decisive`
    until_decisive = true              # add held-back test questions until the leading difference is decided
    budget_questions = 120             # ... or this many were added (budget_minutes: or this much time spent)

Relative paths are relative to the experiment file. Bad values fail at load, naming the field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ragtune.config import _format_error, _parse_value
from ragtune.errors import ConfigError
from ragtune.evaluate.modes import QA_MODES, QA_VARIANTS
from ragtune.names import NAME_PATTERN
from ragtune.train.config import RAFT_DISTRACTORS, RAFT_P_DROP, TrainConfig

CLS_MODES = ("zero-shot", "rag", "ft")
CLS_VARIANTS = ("ft/embedder",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    corpus: str | None = None
    questions: str | None = None
    faq: str | None = None
    updates: str | None = None
    second_corpus: str | None = None  # a second topic (versatility, and distractors of kb_quality)
    second_questions: str | None = None
    train: str | None = None
    test: str | None = None
    text_field: str = "text"
    label_field: str = "label"


class SizesConfig(_Strict):
    docs: int | None = Field(None, ge=1)
    test_questions: int = Field(40, ge=1)
    train_questions: int | None = Field(None, ge=0)
    freshness_items: int = Field(30, ge=0)
    freshness_top_k: int = Field(1, ge=1, le=20, description="passages in the prompt in the freshness experiment: "
                                 "its facts are unrelated to each other, so more passages only add distractors")
    train_examples: int | None = Field(600, ge=2)
    test_examples: int = Field(200, ge=1)
    demonstrations: int = Field(4, ge=0, le=32)
    removed_facts: int = Field(0, ge=0, description="freshness: further facts whose documents are deleted at the "
                               "update (does each mode stop asserting them?)")


# Set by the comparison itself, not by [train]: one seed for the whole experiment (its ``seed``),
# and no validation split (the held-out test questions are the evaluation).
FIXED_TRAIN = ("seed", "val_fraction")
CONTENDERS = ("ft", "raft")  # the per-contender tables [train.ft] and [train.raft]
# Defaults of the comparison that differ from `ragtune train`'s: one long example skips (and is
# counted in the report's notes) rather than stopping a run after minutes of work.
COMPARE_DEFAULTS = {"skip_long": True}


class TrainSection(_Strict):
    """The ``[train]`` table: overrides of ``TrainConfig`` (every default lives there, once), plus
    the comparison's own options below. ``[train.ft]`` and ``[train.raft]`` override further for
    one contender (``ft`` is the trained classifier in a classification experiment); e.g. RAFT
    prompts hold passages, so the raft contender usually needs a larger ``max_seq_len``.

    Every contender is trained by the recipe ``ragtune train`` runs (sft with the documents mixed
    in, raft, classify) with ``config(contender, seed)``: the same numbers the command gives
    (with ``--skip-long``: a comparison skips examples longer than ``max_seq_len`` and counts them
    in its notes, unless ``skip_long = false``; classification texts are cut to fit instead).
    """

    cpt_docs: bool = Field(True, description="ft also trains on the knowledge base's chunks (knowledge in the "
                           "weights): `ragtune train sft --kb`")
    raft_distractors: int = Field(RAFT_DISTRACTORS, ge=0, le=8, description="`ragtune train raft --distractors`")
    raft_drop_oracle: float = Field(RAFT_P_DROP, ge=0, le=1, description="`ragtune train raft --p-drop`")
    raft_reader: Literal["plain", "focus"] = Field("plain", description="`ragtune train raft --reader`: the "
                                                   "prompt raft trains on and answers with (whole passages, or "
                                                   "their best-matching sentences)")
    raft_focus_sentences: int = Field(1, ge=1, le=50, description="`ragtune train raft --focus-sentences` "
                                      "(raft_reader = focus): sentences kept of each passage")
    classifier: Literal["llm", "embedder"] = "llm"
    retrain_for_freshness: bool = True
    freshness_epochs: int = Field(6, ge=1, le=100, description="epochs of the small freshness models "
                                  "(few facts: more passes are needed for them to stick)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields, every contender")
    ft: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields, the ft contender only")
    raft: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields, the raft contender only")

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        """Keys that are not options of the comparison are TrainConfig overrides."""
        if not isinstance(data, dict):
            return data
        own = {k: v for k, v in data.items() if k in cls.model_fields}
        rest = {k: v for k, v in data.items() if k not in cls.model_fields}
        return {**own, "overrides": {**own.get("overrides", {}), **rest}}

    @model_validator(mode="after")
    def _check(self) -> TrainSection:
        for where, table in (("train", self.overrides), ("train.ft", self.ft), ("train.raft", self.raft)):
            for k in FIXED_TRAIN:
                if k in table:
                    raise ConfigError(f"{where}.{k}: set by the experiment (seed: its top-level `seed`; "
                                      "val_fraction: 0, the test split is the evaluation); remove it")
        for c in CONTENDERS:
            self.config(c)  # a bad value fails at load, naming the field
        return self

    def raft_options(self) -> dict[str, Any]:
        """The keyword options of ``training.raft_contender``: distractors, dropped oracles, reader."""
        return {"k": self.raft_distractors, "p_drop": self.raft_drop_oracle, "reader": self.raft_reader,
                "focus_sentences": self.raft_focus_sentences}

    def config(self, contender: str, seed: int = 0, **changes: Any) -> TrainConfig:
        """The TrainConfig of one contender: defaults, [train], [train.<contender>], the experiment's own."""
        fixed = {"seed": seed, "val_fraction": 0.0}
        TrainConfig.from_overrides(self.overrides, fixed, where="train")  # name the table a bad value is in
        table = getattr(self, contender) if contender in CONTENDERS else {}
        return TrainConfig.from_overrides(COMPARE_DEFAULTS, self.overrides, table, fixed, changes,
                                          where=f"train.{contender}")


class LearningCurveConfig(_Strict):
    """``[learning_curve]``: the fine-tuned modes retrained on nested shares of the training questions
    (classification: the trained heads on nested shares of the labelled texts)."""

    enabled: bool = False
    fractions: list[float] = Field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])
    modes: list[Literal["ft", "ft+rag", "raft", "ft/embedder"]] = Field(
        default_factory=lambda: ["ft", "ft+rag", "raft", "ft/embedder"],
        description="those the experiment runs are retrained: qa ft, ft+rag, raft; classification ft, ft/embedder")

    @model_validator(mode="after")
    def _check(self) -> LearningCurveConfig:
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ValueError(f"learning_curve.fractions {self.fractions}: give shares in (0, 1], e.g. [0.25, 0.5, 1.0]")
        self.fractions = sorted(set(self.fractions))
        return self


class KBQualityConfig(_Strict):
    """``[kb_quality]``: the retrieval modes answered again with gold passages removed, and with distractors."""

    enabled: bool = False
    share: float = Field(0.5, gt=0, le=1, description="share of the test questions whose gold passage is removed "
                         "(and, separately, gets a near-duplicate with one fact changed)")
    other_topic: int = Field(4, ge=0, description="distractor passages from another topic")
    questions: int | None = Field(None, ge=1, description="test questions answered again (default: all)")
    modes: list[Literal["rag", "ft+rag", "raft"]] = Field(default_factory=lambda: ["rag", "ft+rag", "raft"])


class VersatilityConfig(_Strict):
    """``[versatility]``: a second topic (``data.second_corpus``) asked of the ft model and of rag with its own KB."""

    enabled: bool = False
    questions: int = Field(20, ge=1)
    docs: int | None = Field(None, ge=1)


class DecideConfig(_Strict):
    """``[decide]``: keep adding test questions in batches until the leading difference is decided.

    Questions come from a pool held apart from training (see ``until_decisive``); each batch is
    answered in every mode, then the paired differences and the recommendation are recomputed.
    The run stops when the leading pair is decided, the pool is empty or a budget is spent.
    """

    until_decisive: bool = False
    batch: int = Field(20, ge=1, description="test questions added per round")
    budget_questions: int | None = Field(None, ge=1, description="at most this many test questions added")
    budget_minutes: float | None = Field(None, gt=0, description="at most this much time spent on added questions")
    reserve: int | None = Field(None, ge=0, description="questions held back from training when the split leaves "
                                "none spare (default: budget_questions, else sizes.test_questions)")

    @model_validator(mode="after")
    def _check(self) -> DecideConfig:
        if not self.until_decisive:
            for k in ("budget_questions", "budget_minutes", "reserve"):
                if getattr(self, k) is not None:
                    raise ValueError(f"decide.{k} needs decide.until_decisive = true (--until-decisive)")
        return self


class ExperimentConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    task: Literal["qa", "classification"]
    description: str = ""
    seed: int = 0
    modes: list[str] = Field(default_factory=list)
    variants: list[str] = Field(default_factory=list)
    primary_metric: str | None = None
    concurrency: int = Field(1, ge=1, le=64, description="answers sent at once when the generator is an "
                             "OpenAI-compatible endpoint (a server fleet, `ragtune serve`); a local engine answers "
                             "one at a time")
    data: DataConfig = Field(default_factory=DataConfig)
    sizes: SizesConfig = Field(default_factory=SizesConfig)
    train: TrainSection = Field(default_factory=TrainSection)
    learning_curve: LearningCurveConfig = Field(default_factory=LearningCurveConfig)
    kb_quality: KBQualityConfig = Field(default_factory=KBQualityConfig)
    versatility: VersatilityConfig = Field(default_factory=VersatilityConfig)
    decide: DecideConfig = Field(default_factory=DecideConfig)
    settings: dict[str, Any] = Field(default_factory=dict)
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        allowed = (QA_MODES + QA_VARIANTS) if self.task == "qa" else (CLS_MODES + CLS_VARIANTS)
        if not self.modes:
            self.modes = list(QA_MODES if self.task == "qa" else CLS_MODES)
        for m in self.modes + self.variants:
            if m not in allowed:
                raise ValueError(f"mode {m!r} is not available for task {self.task}; use {', '.join(allowed)}")
        if self.task == "qa" and not (self.data.faq or (self.data.corpus and self.data.questions)):
            raise ValueError("a qa experiment needs data.corpus and data.questions, or data.faq")
        if self.task == "classification" and not (self.data.train and self.data.test):
            raise ValueError("a classification experiment needs data.train and data.test")
        if self.decide.until_decisive and self.task != "qa":
            raise ValueError("decide.until_decisive is for qa experiments; for classification raise "
                             "sizes.test_examples instead")
        if self.versatility.enabled and not (self.data.second_corpus and self.data.second_questions):
            raise ValueError("versatility.enabled needs data.second_corpus and data.second_questions (a second "
                             "topic); add them or set versatility.enabled = false")
        return self

    _soft_sizes: set[str] = PrivateAttr(default_factory=set)

    def required_sizes(self) -> set[str]:
        """The sizes the experiment asks for: a run fails before any work when the data cannot give one.

        Defaults, and the small sizes of ``--quick``, are lowered to what the data has instead (noted).
        """
        return set(self.sizes.model_fields_set) - self._soft_sizes

    def path(self, p: str | None) -> Path | None:
        if p is None:
            return None
        q = Path(p).expanduser()
        return q if q.is_absolute() else (self.base_dir / q)

    def all_modes(self) -> list[str]:
        return self.modes + [v for v in self.variants if v not in self.modes]

    def setting_overrides(self) -> list[str]:
        """The [settings] table as ``section.field=value`` overrides (nested tables are flattened)."""
        out: list[str] = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict) and not (prefix.startswith("models.registry.") and prefix.count(".") >= 2):
                for k, v in node.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out.append(f"{prefix}={_toml_literal(node)}")

        walk("", self.settings)
        return out


def _toml_literal(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_literal(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_literal(x) for x in v) + "]"
    return str(v)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def load_experiment(path: str | Path | None = None, overrides: list[str] | None = None,
                    data: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read an experiment file (or a dict) and apply ``key=value`` overrides."""
    tree: dict[str, Any] = dict(data or {})
    base = Path(".")
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"experiment file {p} does not exist; see examples/*/experiment.toml")
        try:
            tree = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML ({e})") from e
        base = p.resolve().parent
    soft: set[str] = set()  # sizes last set by --quick: lowered to what the data has rather than failing
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"{item!r}: expected key=value, e.g. sizes.test_questions=10")
        k, v = item.split("=", 1)
        _set_dotted(tree, k.strip(), _parse_value(v))
        (soft.add if item in QUICK_OVERRIDES else soft.discard)(k.strip())
    tree.setdefault("base_dir", str(base))
    try:
        exp = ExperimentConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format_error(e)) from None
    exp._soft_sizes = {k.removeprefix("sizes.") for k in soft if k.startswith("sizes.")}
    return exp


QUICK_OVERRIDES = [
    "variants=[]", "sizes.docs=4", "sizes.test_questions=4", "sizes.train_questions=8", "sizes.freshness_items=3",
    "sizes.train_examples=48", "sizes.test_examples=12", "sizes.demonstrations=2",
    "train.epochs=1", "train.freshness_epochs=1", "train.max_steps=3", "train.batch_size=2", "train.grad_accum=1",
    "train.max_seq_len=128", "train.warmup_steps=0",
    "settings.generation.max_tokens=16",
    "learning_curve.fractions=[0.5, 1.0]", "kb_quality.questions=4", "kb_quality.other_topic=2",
    "versatility.questions=3", "versatility.docs=3",
]
