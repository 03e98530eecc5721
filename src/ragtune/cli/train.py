"""``ragtune train RECIPE``: fine-tune the generator (sft, cpt, synth, raft) or a classifier.

Every generative recipe takes the same training flags (``--epochs``, ``--lr``, ``--lora-r`` ...),
added to each command by ``_with_training_flags`` and turned into one validated ``TrainConfig``.
Several processes: ``accelerate launch --multi_gpu --num_processes 2 -m ragtune.cli.main train ...``
(on a CPU-only machine this starts torchrun and the processes talk over gloo), or
``torchrun --nproc_per_node 2 -m ragtune.cli.main train ...``.

Each command finds its train function in the recipe table (``train/recipes.py``) by name; the
built-ins have a command each with their own flags, and ``ragtune train run NAME`` runs any
other registered recipe on the inputs its ``inputs`` kind names.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

import typer

from ragtune.cli.common import complete_kb, console, print_json, settings_from
from ragtune.errors import ConfigError
from ragtune.kb import kb_chunks
from ragtune.train.config import RAFT_DISTRACTORS, RAFT_DROPPED_ANSWER, RAFT_P_DROP, TrainConfig
from ragtune.train.recipes import recipe, recipe_names
from ragtune.train.sources import load_chunks

BUILT_INS = ("sft", "cpt", "synth", "raft", "classify")  # the recipes with a command of their own here
THIRD_PARTY = [n for n in recipe_names() if n not in BUILT_INS]


def _listing(names: list[str]) -> str:
    return "\n\n".join(f"{n} ({recipe(n).inputs}): {recipe(n).summary}" for n in names) or "none"


app = typer.Typer(help="Fine-tune the generator or train a classifier, by a recipe of the table:\n\n"
                  + _listing(recipe_names()), no_args_is_help=True)

# name, type, help: the flags every recipe shares. Their defaults are TrainConfig's (train/config.py),
# read from the model, so the command and the Python API cannot drift apart.
_TRAINING_HELP: list[tuple[str, Any, str]] = [
    ("epochs", int, "Passes over the training data."),
    ("max_steps", int | None, "Stop after this many optimizer steps (overrides --epochs)."),
    ("lr", float, "Peak learning rate."),
    ("batch_size", int, "Examples per micro-batch (per process)."),
    ("grad_accum", int, "Micro-batches per optimizer step."),
    ("warmup_steps", int, "Linear warm-up steps."),
    ("schedule", str, "Learning-rate decay: cosine, linear or constant."),
    ("full", bool, "Train every weight instead of LoRA adapters."),
    ("lora_r", int, "LoRA rank."),
    ("lora_alpha", float, "LoRA alpha (scale = alpha / rank)."),
    ("lora_dropout", float, "Dropout on the LoRA input."),
    ("target_modules", str, "Comma-separated module names for LoRA, or all-linear."),
    ("precision", str, "auto (bf16 autocast where the CPU supports it), bf16 or fp32."),
    ("max_seq_len", int, "Longest example in tokens; longer ones are an error (see --skip-long)."),
    ("skip_long", bool, "Drop examples longer than --max-seq-len instead of stopping."),
    ("gradient_checkpointing", bool, "Recompute activations in the backward pass instead of keeping them: "
     "much less memory on long examples (RAFT prompts), some speed."),
    ("val_fraction", float, "Share held out for validation when no validation file is given."),
    ("eval_every", int, "Steps between validation passes (0: once per epoch)."),
    ("patience", int, "Stop after this many validation passes without improvement (0: never)."),
    ("checkpoint_every", int, "Steps between checkpoints (0: none); what --resume restarts from."),
    ("keep_checkpoints", int, "How many checkpoints to keep."),
    ("resume", bool, "Continue an interrupted run from its last checkpoint."),
    ("seed", int, "Seed for initialisation, data order, splits and sampling."),
    ("threads", int, "Torch threads per process (0: the free cores)."),
]
TRAINING_FLAGS: list[tuple[str, Any, Any, str]] = [
    (name, typ, TrainConfig.model_fields[name].default, help_) for name, typ, help_ in _TRAINING_HELP
]
# Switches with a --no- form even where the default is off: a setting whose default may differ
# by recipe or experiment, so either value can be asked for explicitly.
_BOTH_WAYS = ("gradient_checkpointing",)
COMMON_FLAGS: list[tuple[str, Any, Any, str]] = [
    ("base", str | None, None, "Base model to fine-tune (default: models.generator)."),
    ("overwrite", bool, False, "Replace a model of the same name."),
    ("progress", bool, True, "Show a progress bar."),
    ("as_json", bool, False, "Print the model record as JSON."),
    ("export_gguf", bool, True, "Export the LoRA adapter as GGUF afterwards, for llama.cpp (GGUF bases)."),
]


def _flag(name: str, typ: Any, default: Any, help_: str) -> inspect.Parameter:
    opt = f"--{name.replace('_', '-')}" if name != "as_json" else "--json"
    if typ is bool and name not in ("as_json",):
        both = default is not False or name in _BOTH_WAYS
        decl = [f"{opt}/--no-{name.replace('_', '-')}"] if both else [opt]
    else:
        decl = [opt]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=typ,
                             default=typer.Option(default, *decl, help=help_))


def _with_training_flags(fn):
    """Add the shared flags to a command; it receives them as ``cfg`` (TrainConfig) and ``opts``."""
    sig = inspect.signature(fn)
    own = [p for p in sig.parameters.values() if p.name not in ("cfg", "opts")]
    extra = [_flag(*f) for f in TRAINING_FLAGS + COMMON_FLAGS]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        train = {name: kwargs.pop(name) for name, *_ in TRAINING_FLAGS}
        opts = {name: kwargs.pop(name) for name, *_ in COMMON_FLAGS}
        return fn(*args, cfg=make_config(train, fn.__name__), opts=opts, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=own + extra)
    wrapper.__annotations__ = {**{k: v for k, v in fn.__annotations__.items() if k not in ("cfg", "opts")},
                               **{p.name: p.annotation for p in extra}}
    return wrapper


def make_config(flags: dict[str, Any], recipe: str = "") -> TrainConfig:
    """The flags as overrides of TrainConfig's defaults, validated by it."""
    flags = dict(flags)
    tm = str(flags.pop("target_modules") or "all-linear")
    flags["target_modules"] = "all-linear" if tm == "all-linear" else [m.strip() for m in tm.split(",") if m.strip()]
    return TrainConfig.from_overrides(flags)


def _finish(settings: Any, outcome: Any, opts: dict[str, Any]) -> None:
    """Export the GGUF adapter (so ``ask --mode ft`` runs in llama.cpp), then report."""
    from ragtune.train.runner import export_for_llamacpp  # lazy: torch (ragtune[train])

    if opts["export_gguf"]:
        outcome = export_for_llamacpp(settings, outcome)
    _report(outcome, opts["as_json"])


def _report(outcome: Any, as_json: bool) -> None:
    """Print what was trained: the record as JSON, or a short summary."""
    info, res = outcome.info, outcome.result
    if info is None:  # a non-main process of a multi-process run
        return
    if as_json:
        print_json(info.to_dict())
        return
    first = res.train_losses[0][1] if res.train_losses else float("nan")
    val = f", best validation loss {res.best_val_loss:.4f}" if res.best_val_loss is not None else ""
    early = " (stopped early)" if res.stopped_early else ""
    console.print(
        f"[green]trained[/] {info.name} ({info.recipe}, {info.weights}) in {res.seconds:.0f} s: "
        f"{res.steps} steps{early}, loss {first:.4f} -> {res.final_loss:.4f}{val}, "
        f"{res.tokens_per_s:.0f} tokens/s ({res.precision}, "
        f"{'gradient checkpointing, ' if res.gradient_checkpointing else ''}{res.processes} process(es), "
        f"{res.threads} thread{'' if res.threads == 1 else 's'} each)"
    )
    mode = "raft --kb KB" if info.recipe == "raft" else "ft"
    console.print(f"saved in {info.path} ({info.size_bytes / 1e6:.1f} MB); ask it: "
                  f"ragtune ask --mode {mode} --model {info.name} \"...\"")


def _chunks(settings: Any, kb: str | None, paths: list[Path] | None):
    return load_chunks(settings, (lambda: kb_chunks(settings, kb)) if kb else None, [str(p) for p in paths or []])


DATA = typer.Option(..., "--data", "-d", help="Training file(s): JSONL question/answer, prompt/completion or "
                    "chat messages (repeatable).")
VAL = typer.Option(None, "--val-data", help="Validation file(s); default: a seeded --val-fraction split.")
NAME = typer.Option(..., "--name", "-n", help="Name of the trained model (see: ragtune models list).")
KB = typer.Option(None, "--kb", help="Use the chunks of this knowledge base.", autocompletion=complete_kb)


@app.command("sft")
@_with_training_flags
def sft_cmd(ctx: typer.Context, data: list[Path] = DATA, name: str = NAME, val_data: list[Path] = VAL,
            kb: str = typer.Option(None, "--kb", help="Also train on the text of this knowledge base's chunks "
                                   "(continued pre-training mixed in).", autocompletion=complete_kb),
            corpus: list[Path] = typer.Option(None, "--corpus", help="Also train on these files' text, chunked "
                                              "like ingest (instead of --kb)."),
            cfg: Any = None, opts: Any = None):
    """Supervised fine-tuning on QA or chat data, loss on the answers only, in the model's chat template."""
    settings = settings_from(ctx)
    chunks = _chunks(settings, kb, corpus) if kb or corpus else None
    out = recipe("sft").load()(settings, data, name, cfg, val_data=val_data or None, base=opts["base"],
                    overwrite=opts["overwrite"], progress=_progress(opts), chunks=chunks)
    _finish(settings, out, opts)


@app.command("cpt")
@_with_training_flags
def cpt_cmd(ctx: typer.Context,
            paths: list[Path] = typer.Argument(None, help="Files or folders (any format ingest reads)."),
            name: str = NAME, kb: str = KB,
            augment: int = typer.Option(0, "--augment", help="Paraphrases per chunk, written by the generator."),
            cfg: Any = None, opts: Any = None):
    """Continued pre-training on documents (a knowledge base or files), optionally with paraphrases."""
    settings = settings_from(ctx)
    out = recipe("cpt").load()(settings, _chunks(settings, kb, paths), name, cfg, augment=augment,
                               base=opts["base"], overwrite=opts["overwrite"], progress=_progress(opts))
    _finish(settings, out, opts)


@app.command("synth")
@_with_training_flags
def synth_cmd(ctx: typer.Context,
              paths: list[Path] = typer.Argument(None, help="Files or folders (any format ingest reads)."),
              out: Path = typer.Option(..., "--out", "-o", help="Where to write the generated QA JSONL."),
              kb: str = KB,
              per_chunk: int = typer.Option(2, "--per-chunk", help="Pairs to ask the generator for, per chunk."),
              name: str = typer.Option(None, "--name", "-n", help="Also fine-tune (SFT) a model of this name."),
              roundtrip: bool = typer.Option(False, "--roundtrip", help="Also keep only pairs the generator "
                                             "answers back correctly from the chunk."),
              cfg: Any = None, opts: Any = None):
    """Generate QA pairs from documents, keep those whose answer is in the source; optionally train on them."""
    settings = settings_from(ctx)
    chunks = _chunks(settings, kb, paths)
    if not name:
        from ragtune.train.synth import generate_dataset  # lazy: torch (ragtune[train])

        rep = generate_dataset(settings, chunks, out, per_chunk=per_chunk, seed=cfg.seed,
                                     progress=_progress(opts), roundtrip=roundtrip)
        if opts["as_json"]:
            print_json(rep.summary())
            return
        console.print(f"kept {len(rep.kept)} pairs in {out}, rejected {len(rep.rejected)} {rep.reasons}; "
                      f"check them, then: ragtune train sft --data {out} --name NAME")
        return
    outcome, _ = recipe("synth").load()(settings, chunks, out, name, cfg, per_chunk=per_chunk, base=opts["base"],
                                        overwrite=opts["overwrite"], progress=_progress(opts), roundtrip=roundtrip)
    _finish(settings, outcome, opts)


@app.command("raft")
@_with_training_flags
def raft_cmd(ctx: typer.Context, data: list[Path] = DATA, name: str = NAME, val_data: list[Path] = VAL,
             kb: str = KB,
             corpus: list[Path] = typer.Option(None, "--corpus", help="Passages as files/folders, if not --kb "
                                               "(default: the rows' own context fields)."),
             distractors: int = typer.Option(RAFT_DISTRACTORS, "--distractors", "-k",
                                             help="Distractor passages per question."),
             p_drop: float = typer.Option(RAFT_P_DROP, "--p-drop",
                                          help="Share of questions shown without their source."),
             dropped_answer: str = typer.Option(RAFT_DROPPED_ANSWER, "--dropped-answer",
                                                help="Target when the source is dropped: answer or abstain."),
             reader: str = typer.Option("plain", "--reader",
                                        help="The prompt trained on: plain (whole passages) or focus (the passages' "
                                        "best-matching sentences, as `ask --reader focus` sends): a reader adapter."),
             focus_sentences: int = typer.Option(None, "--focus-sentences", min=1,
                                                 help="With --reader focus: sentences kept (default [reader])."),
             cfg: Any = None, opts: Any = None):
    """Retrieval-augmented fine-tuning: questions with their source passage among retrieved distractors."""
    from ragtune.generate.reader import READERS  # lazy: numpy and the reader stack, needed by raft only

    settings = settings_from(ctx)
    if reader not in READERS:
        raise ConfigError(f"--reader {reader!r} is not allowed; use one of {', '.join(READERS)}")
    if focus_sentences is not None and reader != "focus":
        raise ConfigError("--focus-sentences needs --reader focus")
    shown = settings.reader.model_copy(update={"method": reader, **(
        {"focus_sentences": focus_sentences} if focus_sentences else {})})
    chunks = _chunks(settings, kb, corpus) if kb or corpus else None
    out = recipe("raft").load()(settings, data, name, cfg, chunks=chunks, val_data=val_data or None,
                                k=distractors, p_drop=p_drop, dropped_answer=dropped_answer, base=opts["base"],
                                overwrite=opts["overwrite"], progress=_progress(opts), reader=shown)
    _finish(settings, out, opts)


@app.command("classify")
@_with_training_flags
def classify_cmd(ctx: typer.Context,
                 data: list[Path] = typer.Option(..., "--data", "-d", help="JSONL or CSV with text and label."),
                 name: str = NAME, val_data: list[Path] = VAL,
                 method: str = typer.Option("llm", "--method", help="llm (head on the LLM, LoRA) or embedder "
                                            "(linear head on MiniLM embeddings: seconds)."),
                 text_field: str = typer.Option("text", "--text-field"),
                 label_field: str = typer.Option("label", "--label-field"),
                 cfg: Any = None, opts: Any = None):
    """Train a text classifier (sentiment and the like); the label set is stored with the model."""
    settings = settings_from(ctx)
    out = recipe("classify").load()(settings, name, data, val_data or [], method, cfg, text_field=text_field,
                                    label_field=label_field, base=opts["base"], overwrite=opts["overwrite"],
                                    progress=_progress(opts))
    if opts["as_json"]:
        print_json(out.to_dict())
        return
    m = out.metrics
    acc = f", validation accuracy {m['val_accuracy']:.3f}" if "val_accuracy" in m else ""
    console.print(f"[green]trained[/] classifier {out.name} ({method}) with labels {out.labels}{acc}; "
                  f"saved in {out.path}")


@app.command("run", help="Run a recipe of the table that has no command of its own (a third party's), "
             "on the inputs its kind names: qa, --data files; documents, the chunks of --kb or of PATHS; "
             "qa+documents, both (the chunks optional); labels, --data files of labelled rows.\n\n"
             "Registered: " + _listing(THIRD_PARTY))
@_with_training_flags
def run_cmd(ctx: typer.Context,
            recipe_name: str = typer.Argument(..., help="The recipe's name in the table."),
            paths: list[Path] = typer.Argument(None, help="Files or folders for its documents (instead of --kb)."),
            data: list[Path] = typer.Option(None, "--data", "-d", help="Training file(s) (repeatable)."),
            name: str = NAME, val_data: list[Path] = VAL, kb: str = KB,
            text_field: str = typer.Option("text", "--text-field", help="labels recipes: the text column."),
            label_field: str = typer.Option("label", "--label-field", help="labels recipes: the label column."),
            cfg: Any = None, opts: Any = None):
    r = recipe(recipe_name)
    if r.name in BUILT_INS:
        raise ConfigError(f"{r.name!r} has its own command with its own flags: ragtune train {r.name} --help")
    docs, qa = r.inputs in ("documents", "qa+documents"), r.inputs != "documents"
    if qa and not data:
        raise ConfigError(f"recipe {r.name!r} trains on {r.inputs}: pass its file(s) with --data")
    if not qa and (data or val_data):
        raise ConfigError(f"recipe {r.name!r} trains on documents: pass --kb KB or paths, not --data")
    if r.inputs == "documents" and not (kb or paths):
        raise ConfigError(f"recipe {r.name!r} trains on documents: pass --kb KB or files/folders")
    if not docs and (kb or paths):
        raise ConfigError(f"recipe {r.name!r} trains on {r.inputs}: --kb and paths are not used, pass --data")
    settings = settings_from(ctx)
    kw: dict[str, Any] = {"settings": settings, "name": name, "cfg": cfg, "base": opts["base"],
                          "overwrite": opts["overwrite"], "progress": _progress(opts)}
    if qa:
        kw.update(data=data, val_data=val_data or None)
    if docs:
        kw["chunks"] = _chunks(settings, kb, paths) if kb or paths else None
    if r.inputs == "labels":
        kw.update(text_field=text_field, label_field=label_field)
    out = r.load()(**kw)
    if isinstance(out, dict):  # a recipe may return a plain record instead of an Outcome
        print_json(out)
        return
    _finish(settings, out, opts)


def _progress(opts: dict[str, Any]) -> bool | None:
    return None if opts["progress"] else False
