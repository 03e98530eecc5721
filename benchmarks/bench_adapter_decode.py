"""Decode speed in llama.cpp with a GGUF LoRA adapter against the bare quantised base.

Both models live in one process and take turns (base, adapter, base, adapter...) on the same
prompt, greedy, the same thread count and context size, so load on the shared machine hits both
alike. Decode tokens/s comes from llama.cpp's own counters (``llama_perf_context``: decode time
and decoded tokens, prompt reading excluded). Target: the adapter at 85% of the base or better.

Without ``--adapter``, LoRAs (rank from ``--ranks``, all linear layers, non-zero B so they really
change the output) are made on the bundled model with peft and exported with
``export_gguf_adapter``. The cost of an unmerged adapter in llama.cpp is four extra graph ops per
adapted matrix (two small matmuls, scale, add) plus reading A and B, so it grows with the rank.

    .venv/bin/python benchmarks/bench_adapter_decode.py --ranks 4,16,64 --tokens 128 --rounds 10 --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench_common import header, median, table, write_section

TITLE = "Fine-tuning: decode speed with a GGUF LoRA adapter (llama.cpp)"
PROMPT = ("<|im_start|>user\nExplain in a few sentences why the sky is blue during the day and red at "
          "sunset.<|im_end|>\n<|im_start|>assistant\n")


def make_adapter(folder: Path, rank: int, dtype: str = "f32") -> Path:
    """A random-B LoRA on every linear layer of the bundled model, saved by peft and exported to GGUF."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ragtune.registry import resolve
    from ragtune.train.export import export_gguf_adapter, load_base_causal_lm

    spec = resolve("smollm2-135m-instruct")
    torch.manual_seed(0)
    model, _ = load_base_causal_lm(spec)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, init_lora_weights=False)
    peft_model = get_peft_model(model, cfg)
    with torch.no_grad():  # a modest effect: the output changes, but stays language
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.mul_(0.1)
    peft_model.save_pretrained(str(folder / "peft"))
    return export_gguf_adapter(folder / "peft", spec, folder / "adapter.gguf", dtype=dtype)


def decode(llm, tokens: list[int], n: int) -> tuple[float, list[int]]:
    """Greedy-decode ``n`` tokens after ``tokens``; (decode tokens/s from llama.cpp's counters, output)."""
    import llama_cpp

    llm.reset()
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    out = []
    for tok in llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        out.append(tok)
        if len(out) >= n:
            break
    perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return perf.n_eval / (perf.t_eval_ms / 1000), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adapter", type=Path, help="a GGUF LoRA adapter for the bundled model (default: made)")
    ap.add_argument("--ranks", default="16", help="comma-separated ranks of the adapters made (default 16)")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32", help="of the adapters made here")
    ap.add_argument("--tokens", type=int, default=128, help="tokens decoded per round")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()

    from llama_cpp import Llama

    from ragtune.registry import resolve

    base_path = resolve("smollm2-135m-instruct").path
    common = dict(model_path=base_path, n_ctx=512, n_threads=args.threads, n_threads_batch=args.threads,
                  seed=0, verbose=False)
    with tempfile.TemporaryDirectory() as tmp:
        if args.adapter:
            adapters = {f"+ {args.adapter.name}": args.adapter}
        else:
            ranks = [int(r) for r in args.ranks.split(",")]
            adapters = {f"+ LoRA r={r} ({args.dtype})": make_adapter(Path(tmp) / f"r{r}", r, args.dtype)
                        for r in ranks}
        sizes = {name: Path(a).stat().st_size / 1e6 for name, a in adapters.items()}
        models = {"base": Llama(**common)}
        models.update({name: Llama(**common, lora_path=str(a)) for name, a in adapters.items()})
        tokens = models["base"].tokenize(PROMPT.encode(), add_bos=False, special=True)
        speeds: dict[str, list[float]] = {k: [] for k in models}
        outputs: dict[str, list[int]] = {}
        for llm in models.values():  # warm-up
            decode(llm, tokens, 8)
        names = list(models)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:  # rotate who goes first
                tps, out = decode(models[name], tokens, args.tokens)
                speeds[name].append(tps)
                outputs[name] = out

    rows = []
    verdicts = []
    for name, v in speeds.items():
        # Load on the shared machine moves all sides of a round together: per-round ratios are steadier.
        ratio = median([a / b for a, b in zip(v, speeds["base"], strict=True)])
        same = sum(a == b for a, b in zip(outputs["base"], outputs[name], strict=False))
        rows.append([name, f"{sizes.get(name, 0):.1f}", median(v), min(v), max(v), f"{ratio:.0%}",
                     f"{same}/{args.tokens}"])
        if name != "base":
            verdicts.append(f"{name}: {ratio:.0%} ({'met' if ratio >= 0.85 else 'NOT met'})")
    body = "\n\n".join([
        header(f"Bundled SmolLM2-135M-Instruct Q4_1, n_threads={args.threads}, greedy, {args.rounds} rounds "
               f"of {args.tokens} tokens, models taking turns in one process; adapters on all linear "
               "layers."),
        table(["engine", "adapter MB", "decode tok/s (median)", "min", "max", "vs base (median of rounds)",
               "greedy tokens equal to base"], rows),
        "Target: an adapter decodes at 85% of the base or better. " + "; ".join(verdicts) + ". "
        "A differing greedy output shows the adapter is applied.",
        "Run: `.venv/bin/python benchmarks/bench_adapter_decode.py "
        f"--ranks {args.ranks} --dtype {args.dtype} --tokens {args.tokens} --rounds {args.rounds} "
        f"--threads {args.threads}`",
    ])
    print(body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
