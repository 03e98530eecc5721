"""Answer latency and decode speed: ``Pipeline.ask`` (mode rag) against calling
``llama_cpp.Llama`` directly with the very prompt string ragtune built and the same sampling
parameters, thread count and context size.

For every question: ragtune answers it (retrieval, prompt, generation, citations, run log);
then a separately loaded ``Llama`` completes ``answer.prompt`` twice, once in one call and once
streaming (ragtune streams, so the second isolates what ragtune itself adds). The order of the
three rotates per question. Decode tokens/s comes from llama.cpp's own counters
(``llama_perf_context``) for each call, so both sides are measured by the same clock.

    .venv/bin/python benchmarks/bench_answer.py --questions 20 --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_common import (
    DEFAULT_WORK,
    SQUAD_KB,
    header,
    median,
    settings_for,
    squad_kb,
    squad_questions,
    table,
    write_section,
)

TITLE = "RAG: answer latency and decode speed"


def perf(llm) -> tuple[float, float, int, int]:
    """(prompt eval ms, decode ms, prompt tokens evaluated, decoded tokens) since the last reset."""
    import llama_cpp

    d = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return d.t_p_eval_ms, d.t_eval_ms, d.n_p_eval, d.n_eval


def reset_perf(llm) -> None:
    import llama_cpp

    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads, both sides (generation.threads)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()

    from llama_cpp import Llama

    from ragtune.generate.base import GenParams
    from ragtune.kb import open_kb
    from ragtune.pipeline import Pipeline, resolve_generator

    _, kb, _, index = squad_kb(args.work)
    settings = settings_for(args.work, f"generation.threads={args.threads}")
    pipe = Pipeline(settings)
    gen = resolve_generator(settings, None)
    engine = pipe.engine(gen)
    open_kb(settings, SQUAD_KB).retriever  # noqa: B018 - load the embedder and vectors before timing
    g = settings.generation
    direct = Llama(model_path=gen.spec.path, n_ctx=g.n_ctx, n_threads=args.threads, n_threads_batch=args.threads,
                   seed=g.seed, verbose=False)
    p = GenParams.from_settings(g)
    kwargs = dict(max_tokens=p.max_tokens, temperature=p.temperature, top_p=p.top_p, top_k=1, min_p=0.0,
                  repeat_penalty=1.0, seed=p.seed, stop=None)
    questions = [r["question"] for r in squad_questions(args.questions + 20, seed=2, doc_ids=set(index.values()))]

    def run_ragtune(q: str) -> dict:
        reset_perf(engine.llm)
        t = time.perf_counter()
        a = pipe.ask(q, mode="rag", kb=SQUAD_KB)
        wall = (time.perf_counter() - t) * 1e3
        pe, de, npe, nde = perf(engine.llm)
        return {"wall": wall, "retrieve": a.timings.get("retrieve_ms", 0.0), "text": a.text, "prompt": a.prompt,
                "abstained": a.abstained, "p_ms": pe, "d_ms": de, "n_p": npe, "n_d": nde,
                "tokens": a.usage.get("completion_tokens", 0) if a.usage else 0}

    def run_direct(prompt: str, stream: bool) -> dict:
        direct.reset()
        reset_perf(direct)
        t = time.perf_counter()
        if stream:
            text = "".join(c["choices"][0]["text"] for c in direct.create_completion(prompt, stream=True, **kwargs))
        else:
            text = direct.create_completion(prompt, **kwargs)["choices"][0]["text"]
        wall = (time.perf_counter() - t) * 1e3
        pe, de, npe, nde = perf(direct)
        return {"wall": wall, "text": text.strip(), "p_ms": pe, "d_ms": de, "n_p": npe, "n_d": nde}

    # warm both (first calls allocate buffers)
    w = run_ragtune(questions[0])
    run_direct(w["prompt"], False)
    rows, same, used = [], 0, 0
    for q in questions[1:]:
        if used == args.questions:
            break
        r = run_ragtune(q)  # ragtune first once, to get the prompt; then rotate the repeat order
        if r["abstained"]:
            continue
        used += 1
        runs = {}
        order = ["ragtune", "direct", "direct stream"]
        order = order[used % 3:] + order[:used % 3]
        for who in order:
            if who == "ragtune":
                runs[who] = run_ragtune(q)
            else:
                runs[who] = run_direct(r["prompt"], who == "direct stream")
        same += runs["ragtune"]["text"] == runs["direct"]["text"]
        rows.append(runs)
        rr, d, ds = runs["ragtune"], runs["direct"], runs["direct stream"]
        print(f"{used:2d} prompt {rr['n_p']} tok, out {rr['n_d']} tok: ragtune {rr['wall']:.0f} ms "
              f"(retrieval {rr['retrieve']:.0f}), direct {d['wall']:.0f}, direct stream {ds['wall']:.0f}")

    def med(who: str, key: str) -> float:
        return median([r[who][key] for r in rows])

    def tok_s(who: str) -> float:
        return sum(r[who]["n_d"] for r in rows) / (sum(r[who]["d_ms"] for r in rows) / 1e3)

    def prompt_tok_s(who: str) -> float:
        return sum(r[who]["n_p"] for r in rows) / (sum(r[who]["p_ms"] for r in rows) / 1e3)

    gen_ragtune = [r["ragtune"]["wall"] - r["ragtune"]["retrieve"] for r in rows]
    gen_ratio = median([(r["ragtune"]["wall"] - r["ragtune"]["retrieve"]) / r["direct"]["wall"] for r in rows])
    total_ratio = median([r["ragtune"]["wall"] / r["direct"]["wall"] for r in rows])
    stream_ratio = median([(r["ragtune"]["wall"] - r["ragtune"]["retrieve"]) / r["direct stream"]["wall"]
                           for r in rows])
    trows = [
        ["ragtune `Pipeline.ask` (whole answer)", f"{med('ragtune', 'wall'):.0f}", f"{total_ratio:.3f}",
         f"{prompt_tok_s('ragtune'):.0f}", f"{tok_s('ragtune'):.1f}"],
        ["  of which retrieval (embed + hybrid search)", f"{med('ragtune', 'retrieve'):.0f}", "", "", ""],
        ["  the rest: prompt, generation, citations, run log", f"{median(gen_ragtune):.0f}",
         f"{gen_ratio:.3f}", "", ""],
        ["direct `Llama.create_completion(prompt)`", f"{med('direct', 'wall'):.0f}", "1.000",
         f"{prompt_tok_s('direct'):.0f}", f"{tok_s('direct'):.1f}"],
        ["direct, `stream=True`", f"{med('direct stream', 'wall'):.0f}",
         f"{median([r['direct stream']['wall'] / r['direct']['wall'] for r in rows]):.3f}",
         f"{prompt_tok_s('direct stream'):.0f}", f"{tok_s('direct stream'):.1f}"],
    ]
    n_p = np.median([r["ragtune"]["n_p"] for r in rows])
    n_d = np.median([r["ragtune"]["n_d"] for r in rows])
    body = "\n\n".join([
        header(f"Script: `benchmarks/bench_answer.py --questions {args.questions} --threads {args.threads}`. "
               f"{len(rows)} SQuAD dev questions over the {SQUAD_KB} knowledge base, mode rag (hybrid, top "
               f"{settings.retrieval.top_k}), SmolLM2-135M-Instruct Q4_1, llama.cpp {args.threads} thread(s) on "
               f"both sides, n_ctx {g.n_ctx}, greedy, max_tokens {p.max_tokens}; median prompt {n_p:.0f} tokens, "
               f"median answer {n_d:.0f} tokens. Direct calls complete exactly `answer.prompt` with the same "
               "sampling parameters; the three calls of a question run in rotating order."),
        table(["what", "median ms", "ratio to direct (median of per-question ratios)",
               "prompt tokens/s (llama.cpp counters)", "decode tokens/s (llama.cpp counters)"], trows),
        f"Greedy outputs identical to the direct call for {same} of {len(rows)} questions.",
        f"**Answer generation: ragtune takes {gen_ratio:.3f}x the time of calling llama.cpp directly on the "
        f"same prompt ({stream_ratio:.3f}x a direct streaming call); with retrieval included the whole answer "
        f"takes {total_ratio:.3f}x.** Decode: {tok_s('ragtune'):.1f} tokens/s in ragtune vs "
        f"{tok_s('direct'):.1f} direct. Target: within 10%.",
    ])
    print("\n" + body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
