"""The training configuration: one validated object, checked when it is built.

A bad value fails at once with the field name (``ConfigError: lr: must be > 0 (got -1)``),
never as a crash at step 900. Every default lives here, once: the flags of ``ragtune train``
take their defaults from these fields, and an experiment's ``[train]`` table is a set of
overrides of them (``TrainConfig.from_overrides``), so the CLI, the Python API and
``ragtune compare`` train with the same numbers unless told otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.errors import ConfigError

# Fields that change the numbers a run produces: a checkpoint only resumes under the same values.
RESUME_KEYS = (
    "epochs", "max_steps", "lr", "batch_size", "grad_accum", "warmup_steps", "schedule", "min_lr_ratio",
    "weight_decay", "max_grad_norm", "full", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "seed",
)

# The raft recipe's own options (what it trains on, not how), defined once for ``ragtune train
# raft``, ``raft.train`` and an experiment's [train] table (see raft.py for what they mean).
RAFT_DISTRACTORS = 3  # distractor passages per question
RAFT_P_DROP = 0.2  # share of the questions shown without their source passage
RAFT_DROPPED_ANSWER = "answer"  # the target when the source is dropped: answer | abstain


def _format(err: ValidationError, where: str = "") -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "training config"
    loc = f"{where}.{loc}" if where and first["loc"] else (where or loc)
    if first["type"] == "literal_error":
        return f"{loc}: {first.get('input')!r} is not allowed; use one of {first['ctx']['expected']}"
    if first["type"] == "extra_forbidden":
        return f"{loc}: unknown training setting; see `ragtune train --help`"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg} (got {first.get('input')!r})" if first["loc"] else f"{loc}: {msg}"


class TrainConfig(BaseModel):
    """Everything that decides how a recipe trains (what it trains on is the recipe's business)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # how long
    epochs: int = Field(1, ge=1, le=10_000)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs")
    # optimisation
    lr: float = Field(2e-4, gt=0, le=1)
    batch_size: int = Field(4, ge=1, le=4096, description="examples per micro-batch, per process")
    grad_accum: int = Field(1, ge=1, le=4096)
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0)
    # what is trained
    full: bool = False
    lora_r: int = Field(16, ge=1, le=4096)
    lora_alpha: float = Field(32, gt=0)
    # 0 as in peft's own default: dropout on the LoRA input cost 12-14% of the training time (sft, 300 SQuAD
    # questions outside every test split, Zen 3 fp32: 117 and 131 tok/s against 103 and 115, two runs each way)
    # at the same validation loss (2.5416 against 2.5405 with 0.05), 2026-12-07
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    # numerics and data
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    seed: int = 0
    max_seq_len: int = Field(512, ge=8)
    skip_long: bool = False
    gradient_checkpointing: bool = Field(False, description="keep only each layer's input and recompute the rest "
                                         "in the backward pass: far less memory on long examples, more compute")
    val_fraction: float = Field(0.1, ge=0, lt=1)
    # evaluation, checkpoints, logging
    eval_every: int = Field(0, ge=0, description="steps between validation passes; 0 = once per epoch")
    patience: int = Field(0, ge=0, description="validation passes without improvement, then stop; 0 = off")
    restore_best: bool = True
    checkpoint_every: int = Field(100, ge=0, description="steps between checkpoints; 0 = none")
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(1, ge=1)
    resume: bool = False
    threads: int = Field(0, ge=0, description="torch threads per process; 0 = the free cores")

    def __init__(self, _where: str = "", **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError(_format(e, _where)) from None

    @classmethod
    def from_overrides(cls, *layers: dict[str, Any], where: str = "") -> TrainConfig:
        """The defaults with each layer of ``{field: value}`` applied in turn, later layers winning.

        ``where`` names the source in the error (``train.lr: must be > 0 (got -1)``)::

            >>> TrainConfig.from_overrides({"lr": 1e-3}, {"epochs": 2}).lr
            0.001
        """
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update(layer)
        return cls(where, **merged)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ValueError("target_modules must name at least one module, or be 'all-linear'")
        if self.max_steps is not None and self.warmup_steps >= self.max_steps > 1:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below max_steps ({self.max_steps})")
        return self

    def with_(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed, validated like a new one."""
        return TrainConfig(**{**self.model_dump(), **changes})

    def resume_view(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RESUME_KEYS}
