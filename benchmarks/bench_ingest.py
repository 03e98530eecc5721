"""Ingest throughput: ``ragtune ingest`` of N SQuAD paragraphs (one .txt file each) against the
embedder's raw ``SentenceTransformer.encode`` of the very same chunk texts, same batch size.

Embedding is nearly the whole cost of ingest, so the question is how much ragtune adds around
it (reading, chunking with the embedder's tokenizer, hashing, the Lance write and full-text
index). Raw and ragtune run alternately, several rounds, in one process, so load on the shared
machine hits both alike; the figure is the median of the per-round ratios.

    .venv/bin/python benchmarks/bench_ingest.py --n 500 --rounds 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_common import (
    DEFAULT_WORK,
    header,
    median,
    settings_for,
    squad_paragraphs,
    table,
    write_corpus,
    write_section,
)

TITLE = "RAG: ingest throughput"


def chunk_texts(folder: Path, settings, embedder) -> list[str]:
    """The chunk texts ragtune's sync makes of ``folder`` (same loader, chunker and budget)."""
    from ragtune.ingest.chunker import chunk_document, token_counter
    from ragtune.ingest.loaders import iter_files, load_file

    count = token_counter(embedder.tokenizer)
    budget = min(settings.chunking.max_tokens, embedder.max_seq_length - 2)
    overlap = min(settings.chunking.overlap_tokens, budget // 2)
    return [c.text for f in iter_files([folder], settings.ingest.extensions)
            for d in load_file(f, settings.ingest) for c in chunk_document(d, count, budget, overlap)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500, help="paragraphs to ingest (2067 = all)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from ragtune.kb import KnowledgeBase, list_kbs

    work = args.work
    folder = work / f"ingest_{args.n}"
    write_corpus(folder, squad_paragraphs(args.n))
    settings = settings_for(work)
    batch = settings.ingest.batch_size
    name = f"ingest{args.n}"
    if name in list_kbs(settings):
        KnowledgeBase.delete(settings, name)
    kb = KnowledgeBase.create(settings, name)
    emb = kb.embedder
    _ = emb.model  # load before timing: model loading is not throughput
    texts = chunk_texts(folder, settings, emb)
    raw = SentenceTransformer(emb.spec.path, device="cpu", local_files_only=True)
    raw.encode(texts[:batch], batch_size=batch)  # warm both
    emb.encode(texts[:batch], batch)
    print(f"{args.n} paragraphs -> {len(texts)} chunks; batch {batch}; "
          f"torch threads {torch.get_num_threads()}")

    rounds = []
    for r in range(args.rounds):
        order = ["raw", "ragtune"] if r % 2 == 0 else ["ragtune", "raw"]
        res: dict[str, float] = {}
        for who in order:
            if who == "raw":
                t, c = time.perf_counter(), time.process_time()
                raw.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
                res["raw"], res["raw_cpu"] = time.perf_counter() - t, time.process_time() - c
            else:
                KnowledgeBase.delete(settings, name)
                kb = KnowledgeBase.create(settings, name)
                kb._embedder = emb
                t, c = time.perf_counter(), time.process_time()
                rep = kb.ingest([folder], show_progress=False)
                res["ragtune"], res["ragtune_cpu"] = time.perf_counter() - t, time.process_time() - c
                res.update({k: v for k, v in rep.timings.items()})
                assert rep.chunks_added == len(texts), (rep.chunks_added, len(texts))
        res["ratio"] = res["raw"] / res["ragtune"]
        res["cpu_ratio"] = res["raw_cpu"] / res["ragtune_cpu"]
        rounds.append(res)
        print(f"round {r + 1}: raw {res['raw']:.1f} s, ragtune {res['ragtune']:.1f} s (read+chunk "
              f"{res['read_chunk_s']:.2f}, embed {res['embed_s']:.1f}, store {res['store_s']:.2f}); "
              f"ragtune/raw throughput {res['ratio']:.3f} (CPU time {res['cpu_ratio']:.3f})")

    rows = [[i + 1, f"{r['raw']:.1f}", f"{len(texts) / r['raw']:.1f}", f"{r['ragtune']:.1f}",
             f"{len(texts) / r['ragtune']:.1f}", f"{r['read_chunk_s']:.2f}", f"{r['embed_s']:.1f}",
             f"{r['store_s']:.2f}", f"{r['ratio']:.3f}", f"{r['raw_cpu']:.1f} / {r['ragtune_cpu']:.1f}",
             f"{r['cpu_ratio']:.3f}"] for i, r in enumerate(rounds)]
    ratio = median([r["ratio"] for r in rounds])
    cpu_ratio = median([r["cpu_ratio"] for r in rounds])
    total = sum(r["raw"] for r in rounds) / sum(r["ragtune"] for r in rounds)
    body = "\n\n".join([
        header(f"Script: `benchmarks/bench_ingest.py --n {args.n} --rounds {args.rounds}`. {args.n} SQuAD "
               f"dev paragraphs as {args.n} .txt files -> {len(texts)} chunks (chunking.max_tokens "
               f"{settings.chunking.max_tokens}); all-MiniLM-L6-v2, batch {batch}, torch threads "
               f"{torch.get_num_threads()}; raw = `SentenceTransformer.encode` of the same chunk texts in "
               "one call; ragtune = `KnowledgeBase.ingest` of the folder into a new KB (read, hash, chunk, "
               "embed, Lance write, full-text index, version record, run log). Model loading excluded from "
               "both; raw and ragtune alternate within each round, the order swapping every round."),
        table(["round", "raw s", "raw chunks/s", "ragtune s", "ragtune chunks/s", "read+chunk s", "embed s",
               "store s", "ragtune / raw (wall)", "CPU s raw / ragtune", "ragtune / raw (CPU)"], rows),
        f"**ragtune ingest runs at {ratio:.1%} of the raw encoder's throughput** (median of the "
        f"{len(rounds)} per-round wall-clock ratios; {total:.1%} from the summed times; {cpu_ratio:.1%} in "
        "process CPU time). Target >= 85%.",
    ])
    print("\n" + body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
