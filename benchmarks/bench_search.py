"""Search latency at 10k and 100k chunks: ragtune dense, BM25 and hybrid (query embedding
included, one torch thread for it) against raw numpy and LanceDB's own searches on the same data.

The big tables are synthesised, not embedded (embedding 100k texts would take hours here): the
chunks of the 2,067 SQuAD paragraphs are repeated, every copy after the first with some words
dropped and replaced, and each copy's vector is the original's plus Gaussian noise, normalised
(cosine about 0.9 to the original). They go straight in through ``LanceStore.add`` with one
commit, which builds the full-text index. Queries are 200 real SQuAD questions and go through the
real ``Retriever`` with the real embedder.

Two orders (``--order``), each its own section of RESULTS.md:

- ``shuffled``: per question, every contender in a shuffled order (seeded), so load and what the
  contender before left in the CPU caches hit them alike (a fixed rotation would give each
  contender the same predecessor). Every search starts after another contender has streamed its
  own data (the float32 scans read 154 MB) through the caches: a cold-cache figure.
- ``blocks``: one contender answers every question (after 5 warm-up questions), then the next, in a
  shuffled order: the steady state of a process that searches one knowledge base, as a server does.

Contenders:

- ragtune ``Retriever.search`` in mode dense, bm25, hybrid (top 10; 30 candidates per list);
- raw: ``SentenceTransformer.encode`` of the query (1 thread) + numpy dot product over the
  in-memory float32 matrix + ``argpartition`` top 10;
- LanceDB vector search (flat, exact, no index) with the same query embedding, and LanceDB
  full-text search alone (no embedding), the same table and columns;
- for each embedding backend (``--backends``): ragtune hybrid search with that backend embedding the
  query (the ``ragtune`` rows above use the default backend, ``auto``), and the query embedding
  alone beside raw ``SentenceTransformer.encode`` of the query (fp32, 1 thread). int8 is timed for
  the embedding alone: its vectors do not mix with the table's float ones.

    .venv/bin/python benchmarks/bench_search.py --sizes 10000 100000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_common import (
    DEFAULT_WORK,
    header,
    load_avg,
    median,
    pct,
    settings_for,
    squad_kb,
    squad_questions,
    table,
    write_section,
)

TITLE = "RAG: search latency"


def synth_kb(settings, base_kb, n: int, seed: int = 0, log=print):
    """A knowledge base of ``n`` chunks made from ``base_kb``'s chunks and vectors (see module doc)."""
    from ragtune.kb import KnowledgeBase, list_kbs
    from ragtune.types import Chunk

    name = f"synth{n}"
    if name in list_kbs(settings):
        kb = KnowledgeBase.open(settings, name)
        if kb.store.count() == n and kb.meta.get("embedding_backend") == settings.embedding.backend:
            return kb, None
        KnowledgeBase.delete(settings, name)
    base = base_kb.store._reader(None).to_arrow()
    texts = base.column("text").to_pylist()
    vecs = base.column("vector").combine_chunks().flatten().to_numpy().reshape(base.num_rows, -1)
    meta = base.drop_columns(["vector", "text"]).to_pylist()
    vocab = sorted({w for t in texts[:500] for w in t.split() if w.isalpha()})
    rng = np.random.default_rng(seed)
    kb = KnowledgeBase.create(settings, name, description=f"{n} synthetic chunks from SQuAD dev")
    t0 = time.perf_counter()
    step = 20_000
    for start in range(0, n, step):
        chunks, rows = [], []
        for i in range(start, min(n, start + step)):
            b, copy = i % len(texts), i // len(texts)
            text = texts[b]
            if copy:
                words = text.split()
                keep = rng.random(len(words)) > 0.15
                words = [w if k else vocab[rng.integers(len(vocab))] for w, k in zip(words, keep, strict=True)]
                text = " ".join(words)
            m = meta[b]
            src = m["source"] if not copy else f"{m['source']}#copy{copy}"
            chunks.append(Chunk(chunk_id=f"s{i}", doc_id=f"{m['doc_id']}#copy{copy}", source=src, text=text,
                                index=m["chunk_index"], title=m["title"], content_hash=m["content_hash"],
                                metadata=json.loads(m["metadata"] or "{}")))
            rows.append(b)
        v = vecs[rows].copy()
        noisy = np.array([i // len(texts) > 0 for i in range(start, start + len(rows))])
        v[noisy] += rng.normal(0, 0.026, size=(int(noisy.sum()), v.shape[1])).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        kb.store.add(chunks, v.astype(np.float32), {})
    t1 = time.perf_counter()
    kb.store.commit(f"synthetic {n}")
    t2 = time.perf_counter()
    log(f"built {name}: add {t1 - t0:.1f} s, commit (full-text index) {t2 - t1:.1f} s")
    return kb, {"add_s": t1 - t0, "index_s": t2 - t1}


def run_size(kb, questions: list[str], raw_model, embedders: dict, order: str, warm: int = 5) -> dict[str, dict]:
    import torch

    from ragtune.embedding import mixable
    from ragtune.retrieve import Retriever
    from ragtune.store.lance import _META_COLUMNS

    store = kb.store
    retr = kb.retriever
    retr.settings = retr.settings.model_copy(update={"top_k": 10})
    tbl = store._reader(None)
    arrow = tbl.to_arrow()
    matrix = np.ascontiguousarray(
        arrow.column("vector").combine_chunks().flatten().to_numpy().reshape(arrow.num_rows, -1), np.float32)
    ids = arrow.column("chunk_id").to_pylist()
    threads = torch.get_num_threads()

    def raw_embed(q: str) -> np.ndarray:
        torch.set_num_threads(1)
        try:
            return raw_model.encode([q], normalize_embeddings=True, convert_to_numpy=True)[0]
        finally:
            torch.set_num_threads(threads)

    def raw_numpy(q: str):
        v = raw_embed(q)
        s = matrix @ v
        top = np.argpartition(-s, 9)[:10]
        return [ids[i] for i in top[np.argsort(-s[top])]]

    def lance_vector(q: str):
        v = raw_embed(q)
        return tbl.search(v).select(_META_COLUMNS).limit(10).to_list()

    def lance_fts(q: str):
        return tbl.search(q, query_type="fts").select(_META_COLUMNS).limit(10).to_list()

    # the same table scanned without the int8 first pass (store.dense_scan = float32), side by side
    from ragtune.store.lance import LanceStore

    r32 = Retriever(LanceStore(store.root, store.dim, dense_scan="float32"), retr.embedder, retr.settings)
    timed = {"ragtune dense": retr, "ragtune bm25": retr, "ragtune hybrid": retr,
             "ragtune dense, float32 scan": r32, "ragtune hybrid, float32 scan": r32}
    contenders = {
        "ragtune dense": lambda q: retr.search(q, k=10, mode="dense"),
        "ragtune dense, float32 scan": lambda q: r32.search(q, k=10, mode="dense"),
        "ragtune hybrid, float32 scan": lambda q: r32.search(q, k=10, mode="hybrid"),
        "ragtune bm25": lambda q: retr.search(q, k=10, mode="bm25"),
        "ragtune hybrid": lambda q: retr.search(q, k=10, mode="hybrid"),
        "raw numpy (embed + dot)": raw_numpy,
        "LanceDB vector search, flat (embed + search)": lance_vector,
        "LanceDB full-text search alone": lance_fts,
        "query embedding alone: raw SentenceTransformer.encode fp32": raw_embed,
    }
    for name, emb in embedders.items():
        contenders[f"query embedding alone: {name}"] = emb.embed_query
        if mixable(name, kb.meta.get("embedding_backend", "torch")):
            r = Retriever(store, emb, retr.settings)
            contenders[f"ragtune hybrid, {name}"] = lambda q, r=r: r.search(q, k=10, mode="hybrid")
    names = list(contenders)
    out = {n: {"ms": [], "parts": []} for n in names}
    got: dict[str, list] = {n: [None] * len(questions) for n in names}
    shuffle = np.random.default_rng(7)

    def run(n: str, j: int) -> None:
        t = time.perf_counter()
        res = contenders[n](questions[j])
        out[n]["ms"].append((time.perf_counter() - t) * 1e3)
        if n in timed:
            out[n]["parts"].append(dict(timed[n].last_timings))
        got[n][j] = res

    if order == "blocks":  # steady state: one contender answers every question, then the next (shuffled order)
        for i in shuffle.permutation(len(names)):
            for q in questions[:warm]:
                contenders[names[i]](q)
            for j in range(len(questions)):
                run(names[i], j)
    else:  # per question, every contender in a shuffled order: each search follows another's cache footprint
        for q in questions[:warm]:
            for n in names:
                contenders[n](q)
        for j in range(len(questions)):
            for i in shuffle.permutation(len(names)):
                run(names[i], j)

    def hit_ids(n: str, j: int) -> set[str]:
        return set(got[n][j]) if n.startswith("raw") else {h.chunk.chunk_id for h in got[n][j]}

    overlap = [len(hit_ids("ragtune dense", j) & hit_ids("raw numpy (embed + dot)", j)) / 10
               for j in range(len(questions))]
    same = [len(hit_ids("ragtune dense", j) & hit_ids("ragtune dense, float32 scan", j)) / 10
            for j in range(len(questions))]
    out["overlap_dense_vs_numpy"] = float(np.mean(overlap))
    out["recall_vs_float32_scan"] = float(np.mean(same))
    out["scan"] = "int8" if store._dense(None).int8 is not None else "float32"
    return out


def size_section(n: int, res: dict, built: dict | None) -> tuple[str, float, float]:
    """The Markdown table of one size; also returns hybrid's p50 and raw numpy's p50."""
    ref = np.median(res["raw numpy (embed + dot)"]["ms"])
    raw_q = np.median(res["query embedding alone: raw SentenceTransformer.encode fp32"]["ms"])
    rows = []
    for name, r in res.items():
        if not isinstance(r, dict):
            continue
        p50, p95 = pct(r["ms"], 50), pct(r["ms"], 95)
        parts = r["parts"]

        def part(key: str, parts=parts) -> str:
            return f"{np.median([p[key] for p in parts]):.1f}" if parts else ""

        dense = part("dense_ms") if "bm25" not in name else ""
        bm25 = part("bm25_ms") if "dense" not in name else ""
        vs_q = f"{p50 / raw_q:.2f}" if name.startswith("query embedding") else ""
        rows.append([name, f"{p50:.1f}", f"{p95:.1f}", f"{p50 / ref:.2f}", vs_q, part("embed_ms"), dense, bm25])
    build = (f" Built in {built['add_s']:.1f} s (add) + {built['index_s']:.1f} s (commit with full-text "
             "index)." if built else "")
    note = (f"\n\nragtune dense top-10 overlap with raw numpy: {res['overlap_dense_vs_numpy']:.3f} (raw numpy "
            "embeds the query with torch fp32, ragtune with its default backend). The `ragtune` rows scan with the "
            f"{res['scan']} first pass (store.dense_scan = auto); their recall@10 against the float32 scan of the "
            f"same query vector: {res['recall_vs_float32_scan']:.3f}.{build}")
    text = f"### {n:,} chunks\n\n" + table(
        ["contender", "p50 ms", "p95 ms", "p50 vs raw numpy", "p50 vs raw query embedding",
         "ragtune: embed ms (p50)", "dense ms (p50)", "bm25 ms (p50)"], rows) + note
    return text, pct(res["ragtune hybrid"]["ms"], 50), float(ref)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--passes", type=int, default=3, help="repeat everything; load on the shared machine varies")
    ap.add_argument("--backends", nargs="+", default=["torch", "torch-bf16", "onnx", "onnx-int8"])
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--order", choices=("shuffled", "blocks"), default="shuffled",
                    help="shuffled: per question, every contender in a shuffled order (each search after another's "
                         "cache footprint); blocks: one contender answers every question, then the next (steady state)")
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from ragtune.embedding import get_embedder

    settings, base, _, _ = squad_kb(args.work)
    questions = [r["question"] for r in squad_questions(args.queries, seed=1)]
    raw_model = SentenceTransformer(base.embedder.spec.path, device="cpu", local_files_only=True)
    embedders = {b: get_embedder(base.embedder.spec, b) for b in args.backends}
    for e in embedders.values():
        e.embed_query("warm up")  # loads (and on first use exports) the model
    kbs = {}
    # the synthetic tables hold the base's vectors, so they record the base's backend
    synth_settings = settings_for(args.work, f"embedding.backend={base.meta.get('embedding_backend', 'torch')}")
    for n in args.sizes:
        kb, built = synth_kb(synth_settings, base, n)
        kb._embedder = base.embedder
        kbs[n] = (kb, built)
    passes: list[dict[int, tuple[str, float, float, str, dict]]] = []
    for i in range(args.passes):
        done = {}
        for n, (kb, built) in kbs.items():
            res = run_size(kb, questions, raw_model, embedders, args.order)
            text, hyb, ref = size_section(n, res, built)
            done[n] = (text, hyb, ref, load_avg().split("/")[0], res)
            print(f"pass {i + 1}\n{text}")
        passes.append(done)
    summary = [[i + 1, f"{n:,}", load, f"{ref:.1f}", f"{hyb:.1f}", f"{hyb / ref:.2f}",
                f"{pct(res['ragtune hybrid, float32 scan']['ms'], 50):.1f}",
                f"{hyb / pct(res['ragtune hybrid, float32 scan']['ms'], 50):.2f}",
                f"{res['recall_vs_float32_scan']:.3f}"]
               for i, done in enumerate(passes) for n, (_, hyb, ref, load, res) in done.items()]
    best = {n: median([p[n][1] for p in passes]) for n in args.sizes}
    mid = sorted(range(len(passes)), key=lambda i: passes[i][args.sizes[-1]][1])[len(passes) // 2]
    line = "; ".join(f"{n:,} chunks median p50 {v:.1f} ms" for n, v in best.items())
    raw_name = "query embedding alone: raw SentenceTransformer.encode fp32"

    def q_ratio(b: str) -> float:  # per pass, p50 of the backend's query embedding / raw's, at the largest size
        return median([pct(p[args.sizes[-1]][4][f"query embedding alone: {b}"]["ms"], 50) /
                       pct(p[args.sizes[-1]][4][raw_name]["ms"], 50) for p in passes])

    def hybrid(b: str) -> str:
        key = f"ragtune hybrid, {b}"
        if key not in passes[0][args.sizes[-1]][4]:
            return "not run (vectors do not mix with the table's)"
        return f"{median([pct(p[args.sizes[-1]][4][key]['ms'], 50) for p in passes]):.1f} ms"

    q_rows = [[b, f"{q_ratio(b):.2f}", hybrid(b)] for b in args.backends]
    body = "\n\n".join([
        header(f"Script: `benchmarks/bench_search.py --sizes {' '.join(map(str, args.sizes))} --queries "
               f"{args.queries} --passes {args.passes} --backends {' '.join(args.backends)} --order {args.order}`. "
               + ("Order: per question, every contender in a shuffled order (cold caches: each search follows "
                  "another contender's memory traffic). " if args.order == "shuffled" else
                  "Order: one contender answers every question, then the next, in a shuffled order (steady state, "
                  "as a process that keeps searching one knowledge base). ") + "The `ragtune` rows "
               f"embed the query with the default backend ({base.embedder.backend_name}); {args.queries} SQuAD dev "
               "questions (seeded sample), top "
               f"10, query embedding included on 1 torch thread (process default {torch.get_num_threads()}); 5 "
               "warm-up queries first (the first query of a version loads its vectors into memory). Synthetic "
               "tables: the SQuAD chunks repeated with 15% of words replaced and vectors perturbed (see the "
               "script). Each pass runs every size; the detailed tables are of the pass with the median hybrid "
               f"p50 at {args.sizes[-1]:,} (pass {mid + 1})."),
        "Every pass, hybrid p50 beside raw numpy's (query embedding + dot product) in the same pass:\n\n" +
        table(["pass", "chunks", "load (1 min)", "raw numpy p50 ms", "ragtune hybrid p50 ms", "ratio",
               "hybrid, float32 scan p50 ms", "ragtune / float32 scan", "dense recall@10 vs float32 scan"], summary),
        *[passes[mid][n][0] for n in args.sizes],
        "All three ragtune modes embed the query (every hit carries its cosine similarity, which the "
        "\"I don't know\" cut-off uses). BM25 runs in a worker thread alongside the embedding and the "
        "vector search; its column is its own duration, most of which the caller does not wait for. "
        "Per embedding backend, the query embedding alone against raw fp32 `SentenceTransformer.encode` of the "
        f"same query (median over the passes of the p50 ratio, at {args.sizes[-1]:,} chunks; target <= 0.5), "
        "and ragtune hybrid search with that backend embedding the query (median p50 over the passes):\n\n" +
        table(["backend", "query embedding p50 / raw fp32 p50", f"hybrid p50 at {args.sizes[-1]:,}"], q_rows),
        f"**Hybrid search (query embedding included, default backend {base.embedder.backend_name}): {line}** "
        f"over {args.passes} passes (target p50 < 10 ms at 100k).",
    ])
    print("\n" + body)
    if not args.no_write:
        write_section(TITLE if args.order == "shuffled" else TITLE + ", steady state (one contender at a time)", body)


if __name__ == "__main__":
    main()
