"""The two store backends side by side at 100k (and 1M) chunks: LanceDB (exact dense search over
the version's vectors in memory) and PostgreSQL + pgvector (HNSW, BM25 in SQL).

The tables are synthesised from the real SQuAD knowledge base (see ``bench_common.squad_kb``):
its chunks repeated, every copy after the first with 15% of the words replaced and its vector the
original's plus Gaussian noise, normalised (the method of ``bench_search.py``). Both backends get
the same rows, in the same batches, through ``Store.add`` and one ``commit``.

Measured, per backend and size:

- ingest: chunks per second of ``add`` + ``commit`` (the vectors are given, nothing is embedded);
- dense, BM25 and hybrid p50 / p95 of ``Retriever.search`` (top 10, 30 candidates per list) with
  the query embedding included, 200 real SQuAD questions;
- dense recall@10 against exact search (numpy over the same vectors), and hybrid top-10 overlap
  with LanceDB's (whose dense half is exact; the full-text halves are each store's own BM25);
- memory of the searching process: each backend searches in a fresh child process, which reports
  its peak RSS and the part of it its searches added (the PostgreSQL server's own memory is not in
  it: that is the point of a server);
- 4 concurrent clients (threads of one process, one store handle): queries per second and p50.

The PostgreSQL server is ``--url`` or, without one, a ``pgserver`` (the dev extra) in the work
folder. Targets (issue 12): hybrid p50 under 30 ms at 1M chunks with dense recall@10 at least
0.95 of exact, on both backends.

    .venv/bin/python benchmarks/bench_store.py --sizes 100000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import threading
import time
from pathlib import Path

import numpy as np
from bench_common import DEFAULT_WORK, header, pct, settings_for, squad_kb, squad_questions, table, write_section

TITLE = "Stores: LanceDB and PostgreSQL side by side"
MODES = ("dense", "bm25", "hybrid")


def synth_batches(base, n: int, seed: int = 0, step: int = 20_000):
    """``n`` synthetic (chunks, vectors) made from ``base``'s chunks and vectors, in batches of ``step``."""
    from ragtune.types import Chunk

    chunks = base.store.all_chunks()
    vecs = base.store.vectors_for([c.chunk_id for c in chunks])
    vocab = sorted({w for c in chunks[:500] for w in c.text.split() if w.isalpha()})
    rng = np.random.default_rng(seed)
    for start in range(0, n, step):
        out, rows = [], []
        for i in range(start, min(n, start + step)):
            b, copy = i % len(chunks), i // len(chunks)
            c = chunks[b]
            text = c.text
            if copy:
                words = text.split()
                keep = rng.random(len(words)) > 0.15
                text = " ".join(w if k else vocab[rng.integers(len(vocab))] for w, k in zip(words, keep, strict=True))
            out.append(Chunk(chunk_id=f"s{i}", doc_id=f"{c.doc_id}#copy{copy}",
                             source=c.source if not copy else f"{c.source}#copy{copy}", text=text, index=c.index,
                             title=c.title, content_hash=c.content_hash, metadata=c.metadata))
            rows.append(b)
        v = vecs[rows].copy()
        noisy = np.array([i // len(chunks) > 0 for i in range(start, start + len(rows))])
        v[noisy] += rng.normal(0, 0.026, size=(int(noisy.sum()), v.shape[1])).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield out, v.astype(np.float32)


def build(settings, name: str, base, n: int, log=print) -> tuple[float, np.ndarray, list[str]]:
    """The knowledge base ``name`` of ``n`` synthetic chunks; returns chunks/s and the vectors with their ids."""
    from ragtune.kb import KnowledgeBase, list_kbs

    if name in list_kbs(settings):
        KnowledgeBase.delete(settings, name)
    kb = KnowledgeBase.create(settings, name, f"{n} synthetic chunks from SQuAD dev")  # base's embedder
    mats, ids = [], []
    t0 = time.perf_counter()
    for chunks, v in synth_batches(base, n):
        kb.store.add(chunks, v, {})
        mats.append(v)
        ids += [c.chunk_id for c in chunks]
    kb.store.commit(f"synthetic {n}")
    took = time.perf_counter() - t0
    log(f"built {name}: {n} chunks in {took:.1f} s ({n / took:.0f} chunks/s)")
    return n / took, np.concatenate(mats), ids


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def search_child(settings_json: str, name: str, questions: list[str], clients: int, out) -> None:
    """In a fresh process: every mode over every question, then ``clients`` threads at once."""
    from ragtune.config import Settings
    from ragtune.kb import KnowledgeBase

    kb = KnowledgeBase.open(Settings.model_validate_json(settings_json), name)
    retr = kb.retriever
    kb.embedder.embed_query("warm up")
    before = _rss_mb()
    for q in questions[:5]:
        for m in MODES:
            retr.search(q, k=10, mode=m)
    ms: dict[str, list[float]] = {m: [] for m in MODES}
    top: dict[str, list[list[str]]] = {m: [] for m in MODES}
    for j, q in enumerate(questions):
        for m in MODES[j % 3:] + MODES[:j % 3]:
            t = time.perf_counter()
            hits = retr.search(q, k=10, mode=m)
            ms[m].append((time.perf_counter() - t) * 1e3)
            top[m].append([h.chunk.chunk_id for h in hits])
    lat: list[float] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        for q in questions[i::clients]:
            t = time.perf_counter()
            retr.search(q, k=10, mode="hybrid")
            with lock:
                lat.append((time.perf_counter() - t) * 1e3)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out.put({"ms": ms, "top": top, "rss_mb": _rss_mb(), "rss_added_mb": _rss_mb() - before,
             "qps": len(lat) / wall, "conc_p50": pct(lat, 50)})


def measure(settings, name: str, questions: list[str], clients: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=search_child, args=(settings.model_dump_json(), name, questions, clients, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--url", help="a PostgreSQL server with pgvector (default: a pgserver in the work folder)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()

    _, base, _, _ = squad_kb(args.work)
    url = args.url
    if not url:
        import pgserver
        import psycopg

        server = pgserver.get_server(args.work / "pg", cleanup_mode="stop")
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    backends = {"lance (exact)": settings_for(args.work, "store.backend=lance"),
                "postgres (HNSW)": settings_for(args.work, f"store.url={url}")}
    questions = [r["question"] for r in squad_questions(args.queries, seed=1)]
    qvecs = np.stack([base.embedder.embed_query(q) for q in questions])
    sections, summary = [], []
    for n in args.sizes:
        results = {}
        for label, s in backends.items():
            name = f"store{n}-{label.split()[0]}"
            rate, matrix, ids = build(s, name, base, n)
            results[label] = measure(s, name, questions, args.clients) | {"rate": rate}
        exact = [[ids[i] for i in np.argsort(-(matrix @ v), kind="stable")[:10]] for v in qvecs]
        ref = results["lance (exact)"]["top"]["hybrid"]
        rows = []
        for label, r in results.items():
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(r["top"]["dense"], exact, strict=True)])
            hyb = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(r["top"]["hybrid"], ref, strict=True)])
            rows.append([label, f"{r['rate']:.0f}",
                         *[f"{pct(r['ms'][m], 50):.1f} / {pct(r['ms'][m], 95):.1f}" for m in MODES],
                         f"{recall:.3f}", f"{hyb:.3f}", f"{r['rss_mb']:.0f} (+{r['rss_added_mb']:.0f})",
                         f"{r['qps']:.1f} / {r['conc_p50']:.1f}"])
            summary.append([f"{n:,}", label, f"{pct(r['ms']['hybrid'], 50):.1f}", f"{recall:.3f}"])
        sections.append(f"### {n:,} chunks\n\n" + table(
            ["store", "ingest chunks/s", "dense p50 / p95 ms", "bm25 p50 / p95 ms", "hybrid p50 / p95 ms",
             "dense recall@10 vs exact", "hybrid top-10 overlap with lance", "search process peak RSS MB (+ searches)",
             f"{args.clients} clients: q/s / p50 ms"], rows))
    body = "\n\n".join([
        header(f"Script: `benchmarks/bench_store.py --sizes {' '.join(map(str, args.sizes))} --queries "
               f"{args.queries} --clients {args.clients}`. Synthetic tables from the SQuAD chunks (see the "
               "script); query embedding included in every latency; PostgreSQL "
               f"{'given by --url' if args.url else 'from pgserver on this machine'}."),
        *sections,
        "Hybrid p50 and dense recall@10 (targets: p50 < 30 ms at 1M chunks, recall >= 0.95):\n\n"
        + table(["chunks", "store", "hybrid p50 ms", "dense recall@10"], summary),
    ])
    print(body)
    print(json.dumps(summary))
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
