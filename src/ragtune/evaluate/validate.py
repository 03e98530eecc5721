"""Checks of an experiment against its models, run before a comparison builds anything.

A mode that fine-tunes the generator (``ft``, ``ft+rag``, ``raft``; in a classification
experiment ``ft`` with ``train.classifier = "llm"``) needs local weights (a kind in
``modeling.TRAINABLE_KINDS``). With an HTTP endpoint as the generator that used to fail only
when training began, after the data was split and the knowledge base built; here it fails at
once, in one line naming the mode, the model and the fix.
"""

from __future__ import annotations

from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.evaluate.experiment import ExperimentConfig
from ragtune.evaluate.modes import QA_TABLE
from ragtune.modeling import TRAINABLE_KINDS
from ragtune.registry import resolve


def training_modes(exp: ExperimentConfig) -> list[str]:
    """The experiment's modes that fine-tune the generator, in the experiment's order."""
    if exp.task == "qa":
        return [m for m in exp.all_modes() if QA_TABLE[m].model]
    return ["ft"] if "ft" in exp.all_modes() and exp.train.classifier == "llm" else []


def _what(kind: str) -> str:
    return "an HTTP endpoint" if kind == "http" else f"a {kind} model"


def check_models(exp: ExperimentConfig, settings: Settings) -> None:
    """Fail when a mode of ``exp`` needs a model that ``settings`` cannot give (see the module docstring).

    The generator is resolved in any case, so a model that does not exist fails here too.
    """
    spec = resolve(settings.models.generator, settings)
    needs = training_modes(exp)
    if not needs or spec.kind in TRAINABLE_KINDS:
        return
    which = f"mode {needs[0]!r}" if len(needs) == 1 else "modes " + ", ".join(repr(m) for m in needs)
    kept = [m for m in exp.modes if m not in needs]
    drop = "drop the ft modes (modes = [" + ", ".join(f'"{m}"' for m in kept) + "])"
    if exp.task == "classification":
        drop += ', set train.classifier = "embedder"'
    raise ConfigError(f"{which} of experiment {exp.name} fine-tune{'s' if len(needs) == 1 else ''} the generator, "
                      f"but {spec.name!r} is {_what(spec.kind)} and cannot be trained here; {drop}, or use a local "
                      "model (models.generator = a .gguf file or a Hugging Face model folder)")
