"""The one training loop every generative recipe uses, written out so it can be read top to bottom.

    model = prepare_model(base, cfg)                      # LoRA adapters, or every weight trainable
    result = train_loop(model, train, val, cfg, work_dir) # -> TrainResult (losses, tokens/s, ...)

What happens in ``train_loop``:

1. seed everything; split each epoch into micro-batches in a seeded order (``epoch_order``), each
   process taking every N-th one (data parallel through ``accelerate``: the same code runs alone
   or under ``accelerate launch --num_processes N``);
   a step's examples are dealt into its micro-batches by length (``by_length``): the step trains
   on the same examples with the same loss, and less of each micro-batch is padding;
2. for each optimizer step: forward ``grad_accum`` micro-batches under bf16 autocast (where the
   CPU has bf16 instructions), loss summed over the answer tokens and divided by the step's token
   count, backward, clip, AdamW step, learning-rate schedule (linear warm-up, then cosine/linear);
   with ``gradient_checkpointing`` each decoder layer keeps only its input and recomputes the rest
   in the backward pass (same losses; on the knowledge example's RAFT batches 3.5 GB instead of 8.4 GB
   at 0.67x the tokens/s, see benchmarks/RESULTS.md);
3. every ``eval_every`` steps: validation loss, early stopping after ``patience`` passes without
   improvement (the best weights are kept and restored at the end);
4. every ``checkpoint_every`` steps: an atomic checkpoint (see ``checkpoint.py``); ``resume=True``
   starts from the newest one and reproduces the uninterrupted run's losses.

Loss curves go to the run log (``run.metric``) and a rich progress bar shows loss, tokens/s and ETA.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ragtune.errors import TrainingError, missing_extra
from ragtune.progress import Lines, default_enabled, is_terminal, stderr
from ragtune.threads import threads_per_process
from ragtune.train import checkpoint as ckpt
from ragtune.train.batching import by_length
from ragtune.train.checkpointing import set_gradient_checkpointing
from ragtune.train.config import TrainConfig
from ragtune.train.data import Example
from ragtune.train.heap import trim_heap
from ragtune.train.model_io import autocast_dtype

# accelerate asks transformers a deprecated question on every prepare; the warning tells users nothing.
warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)

LossFn = Callable[[torch.nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainResult:
    steps: int
    total_steps: int
    train_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    best_val_loss: float | None = None
    stopped_early: bool = False
    resumed_from: int | None = None
    tokens: int = 0  # input tokens processed by this run (all processes), padding excluded
    seconds: float = 0.0
    precision: str = "fp32"
    processes: int = 1
    threads: int = 0  # torch threads each process used (``train.threads``, else the cores free at the start)
    threads_source: str = "auto"  # "setting" (train.threads pinned it) | "auto"
    gradient_checkpointing: bool = False  # activations recomputed in the backward pass (train.gradient_checkpointing)

    @property
    def final_loss(self) -> float | None:
        return self.train_losses[-1][1] if self.train_losses else None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def metrics(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("train_losses")
        d.pop("val_losses")
        first = self.train_losses[0][1] if self.train_losses else None
        return {**d, "first_loss": first, "final_loss": self.final_loss,
                "tokens_per_s": round(self.tokens_per_s, 1)}


# --------------------------------------------------------------------------- model and batches
def prepare_model(model: torch.nn.Module, cfg: TrainConfig, task_type: str = "CAUSAL_LM",
                  modules_to_save: list[str] | None = None) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters (the default) or make every weight trainable (``cfg.full``).

    Seeds torch first: the LoRA A matrices are initialised at random.
    """
    torch.manual_seed(cfg.seed)
    if cfg.full:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        raise missing_extra("peft", "train") from e
    lora = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, bias="none",
        target_modules=cfg.target_modules, task_type=task_type, modules_to_save=modules_to_save,
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as e:
        raise TrainingError(f"LoRA target_modules {cfg.target_modules!r} do not fit this model: {e}") from e


def pad_collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch to its longest example; padding never counts in the loss."""
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def causal_lm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy over the labelled positions, and how many there were.

    A sum (not a mean) so that accumulated micro-batches and processes weigh every token equally.
    Only the positions that predict a labelled token go through the output layer (transformers'
    ``logits_to_keep`` with a boolean mask): with the loss on short answers, most of the 49k-wide
    vocabulary projection of the prompt would be computed and thrown away. No KV cache is built
    (``use_cache=False``): training never reads it, and it is incompatible with checkpointing.
    """
    targets = batch["labels"][:, 1:]
    keep = torch.zeros_like(batch["labels"], dtype=torch.bool)
    keep[:, :-1] = targets != -100
    n = keep.sum()
    if _MASKED_LOGITS[0] and bool(n < keep.numel() * 0.9):
        try:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           logits_to_keep=keep, use_cache=False).logits
            if logits.ndim == 2 and logits.shape[0] == n:
                return F.cross_entropy(logits.float(), targets[keep[:, :-1]], reduction="sum"), n
        except (TypeError, ValueError, RuntimeError, IndexError):
            pass
        _MASKED_LOGITS[0] = False  # this model or transformers version does not support it
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=-100,
                           reduction="sum")
    return loss, n


_MASKED_LOGITS = [True]


def label_count(batch: dict[str, torch.Tensor]) -> int:
    return int((batch["labels"][:, 1:] != -100).sum())


def epoch_order(n_examples: int, batch_size: int, seed: int, epoch: int, world: int = 1, rank: int = 0
                ) -> list[list[int]]:
    """This process's micro-batches (lists of example indices) for one epoch, in a seeded order.

    The order depends only on (seed, epoch), so a resumed run sees exactly the batches the
    interrupted one would have. With several processes the micro-batch list is padded by wrapping
    around to a multiple of ``world`` and dealt out like cards.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n_examples, generator=g).tolist()
    micro = [perm[i:i + batch_size] for i in range(0, n_examples, batch_size)]
    if world > 1 and len(micro) % world:
        micro += micro[: world - len(micro) % world]
    return micro[rank::world]


def lr_lambda(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """Linear warm-up to the peak, then cosine or linear decay to ``min_lr_ratio`` of it."""
    warm = cfg.warmup_steps

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        if cfg.schedule == "constant" or total_steps <= warm + 1:
            return 1.0
        done = min(1.0, (step - warm) / max(1, total_steps - warm - 1))
        shape = 0.5 * (1 + math.cos(math.pi * done)) if cfg.schedule == "cosine" else 1 - done
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * shape

    return f


# --------------------------------------------------------------------------- progress bar
class _Bar:
    """A rich progress bar with step, loss, tokens/s and ETA; nothing at all when disabled."""

    def __init__(self, enabled: bool, total: int, done: int, label: str = "train"):
        self.p = None
        if not enabled:
            return
        if not is_terminal():  # a log file: plain lines (see ragtune.progress)
            self.p = Lines()
            self.task = self.p.add_task(label, total=total, completed=done, info="")
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[info]}"), TextColumn("eta"), TimeRemainingColumn(),
                          console=stderr)
        self.task = self.p.add_task(label, total=total, completed=done, info="")
        self.p.start()

    def update(self, step: int, info: str) -> None:
        if self.p is not None:
            self.p.update(self.task, completed=step, info=info)

    def close(self) -> None:
        if self.p is not None and not isinstance(self.p, Lines):
            self.p.stop()


# --------------------------------------------------------------------------- the loop
def _evaluate(model: torch.nn.Module, val: list[Example], cfg: TrainConfig, acc: Any, loss_fn: LossFn,
              collate: Callable[[list[Example]], dict[str, torch.Tensor]], amp: torch.dtype | None) -> float:
    """Token-weighted validation loss; each process scores its share, the sums are added up."""
    model.eval()
    mine = val[acc.process_index::acc.num_processes]
    total = torch.zeros(2, dtype=torch.float64, device=acc.device)
    with torch.no_grad():
        for i in range(0, len(mine), cfg.batch_size):
            batch = {k: v.to(acc.device) for k, v in collate(mine[i:i + cfg.batch_size]).items()}
            with _autocast(acc, amp):
                loss, count = loss_fn(model, batch)
            total += torch.stack([loss.double(), count.double()])
    total = acc.reduce(total, reduction="sum") if acc.num_processes > 1 else total
    model.train()
    return float(total[0] / total[1].clamp(min=1))


def _autocast(acc: Any, amp: torch.dtype | None):
    return torch.autocast(device_type=acc.device.type, dtype=amp) if amp is not None else nullcontext()


def train_loop(
    model: torch.nn.Module,
    train: list[Example],
    val: list[Example],
    cfg: TrainConfig,
    work_dir: str | Path,
    *,
    pad_id: int = 0,
    run: Any = None,
    loss_fn: LossFn = causal_lm_loss,
    collate: Callable[[list[Example]], dict[str, torch.Tensor]] | None = None,
    count_fn: Callable[[dict[str, torch.Tensor]], int] = label_count,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``model`` in place (see the module docstring); checkpoints go to ``work_dir/checkpoints``.

    ``loss_fn(model, batch) -> (summed loss, count)`` and ``count_fn(batch) -> count`` let a
    recipe with another objective (a classification head) reuse the loop unchanged.
    ``on_step(step, loss)`` is called after each optimizer step on the main process.
    """
    from accelerate import Accelerator  # the [train] extra: pip install 'ragtune[train]'

    if not train:
        raise TrainingError("no training examples left after validation; add data or lower val_fraction")
    collate = collate or (lambda exs: pad_collate(exs, pad_id))
    lengths = [len(ex) for ex in train]
    acc = Accelerator(cpu=not torch.cuda.is_available())
    world, rank, main = acc.num_processes, acc.process_index, acc.is_main_process
    old_threads = torch.get_num_threads()
    threads = threads_per_process(cfg.threads, world)
    torch.set_num_threads(threads)
    amp = autocast_dtype(cfg.precision)
    ckpt_root = Path(work_dir) / "checkpoints"

    steps_per_epoch = math.ceil(len(epoch_order(len(train), cfg.batch_size, cfg.seed, 0, world, rank))
                                / cfg.grad_accum)
    total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    if cfg.gradient_checkpointing:
        set_gradient_checkpointing(model, True)  # before DDP wraps it; undone at the end
    ddp_model = acc.prepare_model(model)  # moves to the device; wraps in DDP under several processes
    raw_model = acc.unwrap_model(ddp_model)
    params = [p for p in raw_model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the model has no trainable weights; use LoRA (the default) or --full")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_steps))

    result = TrainResult(0, total_steps, precision="bf16" if amp is not None else "fp32", processes=world,
                         threads=threads, threads_source="setting" if cfg.threads else "auto",
                         gradient_checkpointing=cfg.gradient_checkpointing)
    best_val, bad_evals, best_weights = math.inf, 0, None
    torch.manual_seed(cfg.seed + rank)
    step = 0
    if cfg.resume:
        last = ckpt.latest_checkpoint(ckpt_root)
        if last is None:
            raise TrainingError(f"--resume: no checkpoint in {ckpt_root}; run without --resume to start")
        state, best_weights = ckpt.restore(last, raw_model, optimizer, scheduler, rank)
        _check_resumable(state, cfg, len(train), world)
        step = state["step"]
        result.train_losses = [tuple(x) for x in state["train_losses"]]
        result.val_losses = [tuple(x) for x in state["val_losses"]]
        best_val, bad_evals = state["best_val"], state["bad_evals"]
        result.resumed_from = step
    if main:
        ckpt.clean_partial(ckpt_root)

    ddp_model.train()
    bar = _Bar(main and (progress if progress is not None else _tty()), total_steps, step,
               f"train {Path(work_dir).name}")
    t0, tokens = time.perf_counter(), 0
    try:
        while step < total_steps:
            epoch, pos = divmod(step, steps_per_epoch)
            order = epoch_order(len(train), cfg.batch_size, cfg.seed, epoch, world, rank)
            group = by_length(order[pos * cfg.grad_accum:(pos + 1) * cfg.grad_accum], lengths)
            batches = [collate([train[i] for i in idx]) for idx in group]
            # Normalise by the tokens of the whole step on every process, so that the sum of
            # DDP's averaged gradients equals one big batch's mean.
            local = torch.tensor([float(sum(count_fn(b) for b in batches))], device=acc.device)
            step_count = acc.reduce(local, reduction="sum") if world > 1 else local
            denom = step_count.clamp(min=1) / world
            loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
            for k, batch in enumerate(batches):
                batch = {n: v.to(acc.device) for n, v in batch.items()}
                sync = k == len(batches) - 1
                with acc.no_sync(ddp_model) if not sync and world > 1 else nullcontext():
                    with _autocast(acc, amp):
                        loss, _ = loss_fn(ddp_model, batch)
                    acc.backward(loss / denom)
                loss_sum += loss.detach().double()
                tokens += int(batch["attention_mask"].sum())
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            total_loss = acc.reduce(loss_sum, reduction="sum") if world > 1 else loss_sum
            step_loss = float(total_loss / step_count.double().clamp(min=1))
            result.train_losses.append((step, step_loss))
            if main and run is not None and (step % cfg.log_every == 0 or step == total_steps):
                run.metric("train_loss", step_loss, step)
                run.metric("lr", scheduler.get_last_lr()[0], step)

            end_of_epoch = step % steps_per_epoch == 0
            if val and ((cfg.eval_every and step % cfg.eval_every == 0)
                        or (not cfg.eval_every and end_of_epoch) or step == total_steps):
                if not result.val_losses or result.val_losses[-1][0] != step:
                    v = _evaluate(ddp_model, val, cfg, acc, loss_fn, collate, amp)
                    result.val_losses.append((step, v))
                    if main and run is not None:
                        run.metric("val_loss", v, step)
                    if v < best_val:
                        best_val, bad_evals = v, 0
                        best_weights = ckpt.trainable_state(raw_model) if cfg.restore_best else None
                    else:
                        bad_evals += 1
            elapsed = time.perf_counter() - t0
            val_txt = f" val {result.val_losses[-1][1]:.3f}" if result.val_losses else ""
            bar.update(step, f"loss {step_loss:.3f}{val_txt} {tokens * world / max(elapsed, 1e-9):.0f} tok/s")
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total_steps:
                _save(acc, ckpt_root, step, raw_model, optimizer, scheduler, cfg, result, best_val,
                      bad_evals, best_weights, len(train), steps_per_epoch)
            if main and on_step is not None:
                on_step(step, step_loss)
            if cfg.patience and bad_evals >= cfg.patience:
                result.stopped_early = True
                break
    finally:
        bar.close()
        torch.set_num_threads(old_threads)
        if cfg.gradient_checkpointing:
            set_gradient_checkpointing(raw_model, False)  # the model leaves as it came (generation, export)
        trim_heap()  # a longer process (compare) goes on without this run's freed memory
    result.steps = step
    result.seconds = time.perf_counter() - t0
    counted = torch.tensor([tokens], dtype=torch.long, device=acc.device)
    result.tokens = int(acc.reduce(counted, reduction="sum")) if world > 1 else tokens
    if val and best_weights is not None and cfg.restore_best and math.isfinite(best_val):
        ckpt.load_trainable(raw_model, best_weights)
    result.best_val_loss = best_val if math.isfinite(best_val) else None
    acc.wait_for_everyone()
    return result


def _tty() -> bool:
    return default_enabled()


def _save(acc: Any, root: Path, step: int, model: torch.nn.Module, optimizer: Any, scheduler: Any,
          cfg: TrainConfig, result: TrainResult, best_val: float, bad_evals: int,
          best_weights: dict[str, torch.Tensor] | None, n_train: int, steps_per_epoch: int) -> None:
    """Write one checkpoint: main writes the shared parts, each process its random state."""
    tmp = Path(root) / f".tmp-step-{step:07d}"
    if acc.is_main_process:
        tmp = ckpt.begin(root, step)
    acc.wait_for_everyone()
    ckpt.write_rng(tmp, acc.process_index)
    if acc.is_main_process:
        state = {
            "step": step, "epoch_position": list(divmod(step, steps_per_epoch)),
            "train_losses": result.train_losses, "val_losses": result.val_losses,
            "best_val": best_val, "bad_evals": bad_evals, "n_train": n_train,
            "processes": acc.num_processes, "config": cfg.resume_view(), "pid": os.getpid(),
        }
        ckpt.write_main(tmp, model, optimizer, scheduler, state, best_weights)
    acc.wait_for_everyone()
    if acc.is_main_process:
        ckpt.commit(root, tmp, step, cfg.keep_checkpoints)
    acc.wait_for_everyone()


def _check_resumable(state: dict[str, Any], cfg: TrainConfig, n_train: int, world: int) -> None:
    """Refuse to resume under settings or data that would make the result differ from one run."""
    saved = state["config"]
    now = cfg.resume_view()
    for k in now:
        if k in saved and _norm(saved[k]) != _norm(now[k]):
            raise TrainingError(
                f"--resume: the checkpoint was made with {k}={saved[k]!r}, now {now[k]!r}; "
                "use the same settings, or start over with --overwrite"
            )
    if state["n_train"] != n_train:
        raise TrainingError(
            f"--resume: the checkpoint trained on {state['n_train']} examples, now {n_train}; "
            "the data changed: start over with --overwrite"
        )
    if state["processes"] != world:
        raise TrainingError(f"--resume: the checkpoint ran on {state['processes']} processes, now {world}")


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v
