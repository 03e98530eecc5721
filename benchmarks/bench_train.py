"""Training speed: ragtune's loop (the sft recipe's examples through ``train_loop``) against a
minimal hand-written PyTorch loop on the same model, batches, LoRA and precision.

Recipes: ``sft`` (examples/finetune QA in the chat template), ``cpt`` (its corpus as text blocks)
and ``raft`` (the knowledge example's questions in the RAG prompt with their source passage and
one retrieved distractor, as ``ragtune compare --example knowledge`` trains them: its docs chunked
like ingest, ``max_seq_len`` 512; pass ``--batch-size 8`` for the example's batch).

Both sides use the bundled model dequantised to float32, LoRA r=16 on all linear layers (peft),
AdamW, the same micro-batches (the loop's seeded order and padding), the same thread count and,
per row, the same autocast setting (fp32, or bf16 autocast where the CPU has bf16 instructions).
The hand-written loop is the floor: forward, mean token loss, backward, step, nothing else.
Runs alternate (ragtune, hand, ragtune, hand ...) so the load of the shared machine hits both
alike; each figure is the median over ``--rounds``. Tokens are the non-padding input tokens.
Target: ragtune at 80% of the hand-written loop or better.

``--grad-accum N`` makes each step N micro-batches of ``--batch-size`` and ``--gradient-checkpointing``
recomputes activations in the backward pass, in both loops, so a recipe can be timed exactly as an
experiment trains it (the knowledge example's RAFT: ``--recipes raft --batch-size 2 --grad-accum 4
--gradient-checkpointing``).

    .venv/bin/python benchmarks/bench_train.py --steps 6 --batch-size 4 --rounds 2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_common import ROOT, header, median, table, write_section

TITLE = "Fine-tuning: training tokens/s, ragtune loop against a hand-written PyTorch loop"
DATA = ROOT / "examples" / "finetune" / "train.jsonl"
KNOWLEDGE = ROOT / "examples" / "knowledge" / "data"


def raft_examples(tok, n: int, docs: int = 12, max_seq_len: int = 512):
    """RAFT examples over the knowledge example's first ``docs`` paragraphs: its settings
    (1 distractor, 20% of the questions without their source), the questions taken one per paragraph
    in turn, those longer than ``max_seq_len`` skipped (as compare does)."""
    from ragtune.config import Settings
    from ragtune.train.data import QAItem
    from ragtune.train.raft import build_examples, build_rows, embedder_fn
    from ragtune.train.sources import chunks_from_paths

    corpus = [json.loads(x) for x in (KNOWLEDGE / "corpus.jsonl").read_text().splitlines()][:docs]
    folder = Path(tempfile.mkdtemp(prefix="bench-raft-"))
    path = {}
    for d in corpus:
        path[d["id"]] = folder / (d["id"].replace(":", "_") + ".txt")
        path[d["id"]].write_text(d["text"], encoding="utf-8")
    settings = Settings()
    chunks = chunks_from_paths(settings, [folder])
    per_doc: dict[str, list[QAItem]] = {}
    for x in (KNOWLEDGE / "qa.jsonl").read_text().splitlines():
        r = json.loads(x)
        if r["doc_id"] in path:
            per_doc.setdefault(r["doc_id"], []).append(
                QAItem(r["id"], "qa", r["question"], r["answers"][0], doc_id=chunks_doc_id(chunks, path[r["doc_id"]])))
    queues = list(per_doc.values())
    items = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)][: 2 * n]
    rows = build_rows(items, chunks, embedder_fn(settings), k=1, p_drop=0.2, seed=0, prompts=settings.prompts)
    return [e for e in build_examples(rows, tok) if len(e) <= max_seq_len][:n]


def chunks_doc_id(chunks, path: Path) -> str:
    """The doc_id ingest gave the file at ``path``."""
    return next(c.doc_id for c in chunks if Path(c.source).name == path.name)


def sft_examples(tok, n: int, recipe: str):
    """Training examples as the recipe builds them (``sft``: chat template + answer mask; ``cpt``:
    the corpus paragraphs as text blocks)."""
    if recipe == "raft":
        return raft_examples(tok, n)
    if recipe == "cpt":
        from ragtune.train.cpt import build_examples as cpt_examples
        from ragtune.types import Chunk

        rows = [json.loads(x) for x in (DATA.parent / "corpus.jsonl").read_text().splitlines()]
        chunks = [Chunk(r["id"], r["id"], "corpus", r["text"], title=r["title"]) for r in rows]
        return cpt_examples(chunks, tok, 128)[:n]
    from ragtune.train.data import load_qa
    from ragtune.train.sft import build_examples

    return build_examples(load_qa(DATA)[:n], tok)


def fresh_lora(spec, cfg):
    from ragtune.train.loop import prepare_model
    from ragtune.train.model_io import load_causal_lm

    model, tok = load_causal_lm(spec)
    return prepare_model(model, cfg), tok


def ragtune_run(spec, cfg, recipe: str) -> float:
    from ragtune.train.loop import train_loop

    model, tok = fresh_lora(spec, cfg)
    exs = sft_examples(tok, cfg.max_steps * cfg.batch_size * cfg.grad_accum, recipe)
    with tempfile.TemporaryDirectory() as work:
        res = train_loop(model, exs, [], cfg, work, pad_id=tok.pad_token_id, progress=False)
    return res.tokens_per_s


def hand_run(spec, cfg, recipe: str) -> float:
    """The minimal loop: same batches, model, optimizer and autocast; nothing else."""
    import torch
    import torch.nn.functional as F

    from ragtune.train.loop import epoch_order, pad_collate
    from ragtune.train.model_io import autocast_dtype

    model, tok = fresh_lora(spec, cfg)
    if cfg.gradient_checkpointing:
        from ragtune.train.checkpointing import set_gradient_checkpointing

        set_gradient_checkpointing(model, True)
    exs = sft_examples(tok, cfg.max_steps * cfg.batch_size * cfg.grad_accum, recipe)
    amp = autocast_dtype(cfg.precision)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    micro = [pad_collate([exs[i] for i in idx], tok.pad_token_id)
             for idx in epoch_order(len(exs), cfg.batch_size, cfg.seed, 0)]
    steps = [micro[i:i + cfg.grad_accum] for i in range(0, len(micro), cfg.grad_accum)][: cfg.max_steps]
    model.train()
    tokens, t0 = 0, time.perf_counter()
    for step in steps:
        for b in step:
            with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
                logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), b["labels"][:, 1:].flatten(),
                                   ignore_index=-100)
            (loss / len(step)).backward()
            tokens += int(b["attention_mask"].sum())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4, help="examples per micro-batch")
    ap.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    ap.add_argument("--recipes", default="sft", help="comma-separated: sft, cpt, raft")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()

    import torch

    from ragtune.registry import resolve
    from ragtune.train.config import TrainConfig
    from ragtune.train.model_io import cpu_supports_bf16

    torch.set_num_threads(args.threads)
    spec = resolve("smollm2-135m-instruct")
    rows = []
    for recipe in args.recipes.split(","):
        for prec in args.precisions.split(","):
            cfg = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
                              gradient_checkpointing=args.gradient_checkpointing, lr=1e-4, precision=prec,
                              max_seq_len=1024, threads=args.threads)
            ours, hand = [], []
            for r in range(args.rounds):
                ours.append(ragtune_run(spec, cfg, recipe))
                hand.append(hand_run(spec, cfg, recipe))
                print(f"{recipe} {prec} round {r + 1}: ragtune {ours[-1]:.1f} tok/s, hand {hand[-1]:.1f} tok/s",
                      flush=True)
            rows.append([recipe, prec, median(ours), median(hand), median(ours) / median(hand),
                         ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(ours, hand, strict=True))])
    fp32 = {r[0]: r[2] for r in rows if r[1] == "fp32"}
    vs_fp32 = [f"{r[0]} x{r[2] / fp32[r[0]]:.2f}" for r in rows if r[1] == "bf16" and r[0] in fp32]
    body = "\n\n".join([
        header(f"Command: `.venv/bin/python benchmarks/bench_train.py --steps {args.steps} --batch-size "
               f"{args.batch_size} --grad-accum {args.grad_accum}"
               f"{' --gradient-checkpointing' if args.gradient_checkpointing else ''} --rounds {args.rounds} "
               f"--threads {args.threads} --recipes {args.recipes} --precisions {args.precisions}`. "
               f"CPU bf16 instructions: {cpu_supports_bf16()}."),
        table(["recipe", "precision", "ragtune tok/s", "hand-written tok/s", "ratio", "rounds (ragtune/hand)"],
              rows),
        *(["bf16 autocast against fp32 (ragtune loop): " + ", ".join(vs_fp32)] if vs_fp32 else []),
    ])
    print(body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
