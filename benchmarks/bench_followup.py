"""Retrieval of conversational follow-ups: recall@3 with and without the standalone-question rewrite.

The follow-ups are built from SQuAD dev questions of the *bench* split of ``bench_grounding``
(articles of the shipped examples and tests left out): a question that names its article
("How many acres does the Amazon rainforest cover?") has the name replaced by "it" / "its",
after a first turn that asks about the article ("Tell me about Amazon rainforest.") and is
answered with the first sentence of the article's first paragraph. Each follow-up is searched
(dense, k=3) in a knowledge base of the chosen articles' paragraphs with:

- ``follow-up``: the follow-up as asked (what ``ragtune serve`` did before);
- ``rewrite``: the generator's standalone rewrite (``ragtune.generate.conversation``, the default);
- ``concat``: the previous user turn and the follow-up joined (a rewrite-free baseline);
- ``original``: the SQuAD question itself (the upper bound).

recall@3 = share of follow-ups whose gold paragraph is among the three hits; all methods run
in one process on the same questions. ``--write`` replaces this script's RESULTS.md section.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import DEFAULT_WORK, header, table, write_section  # noqa: E402
from bench_grounding import build_kb, questions_for, split_articles  # noqa: E402

TITLE = "Conversational follow-ups: retrieval recall@3 with the standalone rewrite"


def followups(paras: list[dict], qs: list[dict], n: int, seed: int) -> list[dict]:
    """Follow-ups: SQuAD questions that name their article, the name replaced by a pronoun."""
    lead = {}
    for p in paras:
        art = p["id"].split(":")[1]
        lead.setdefault(art, re.split(r"(?<=[.!?])\s", p["text"].strip(), maxsplit=1)[0])
    out = []
    for q in qs:
        art = q["doc_id"].split(":")[1]
        name = art.replace("_", " ")
        pat = re.compile(rf"(the\s+)?{re.escape(name)}('s)?", re.I)
        m = pat.search(q["question"])
        if not m:
            continue
        follow = pat.sub(lambda x: "its" if x.group(2) else "it", q["question"], count=1)
        out.append({"history": [(f"Tell me about {name}.", lead[art])], "followup": follow,
                    "original": q["question"], "gold": q["doc_id"]})
    random.Random(seed).shuffle(out)
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK / "followup")
    ap.add_argument("--articles", type=int, default=16)
    ap.add_argument("-n", type=int, default=60, help="follow-ups measured")
    ap.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = ap.parse_args()

    from ragtune.generate.base import get_engine
    from ragtune.generate.conversation import standalone_question
    from ragtune.registry import resolve

    arts = split_articles()["bench"]
    paras, qs = questions_for(arts, args.articles, 100000, seed=0)
    items = followups(paras, qs, args.n, seed=0)
    s, kb = build_kb(args.work, paras, "followup-bench")
    engine = get_engine(resolve(s.models.generator, s), s.generation)

    def gold_in_top3(query: str, gold: str) -> bool:
        hits = kb.search(query, k=3, mode="dense")
        return any(Path(h.chunk.source).stem == gold.replace(":", "_") for h in hits)

    methods = ("follow-up", "rewrite", "rewrite+follow-up", "concat", "original")
    found = {m: 0 for m in methods}
    rewrite_ms = []
    examples = []
    for it in items:
        t = time.perf_counter()
        rw = standalone_question(engine, it["history"], it["followup"])
        rewrite_ms.append((time.perf_counter() - t) * 1e3)
        queries = {"follow-up": it["followup"], "rewrite": rw, "rewrite+follow-up": f"{rw} {it['followup']}",
                   "concat": f"{it['history'][-1][0]} {it['followup']}", "original": it["original"]}
        for m in methods:
            found[m] += gold_in_top3(queries[m], it["gold"])
        if len(examples) < 5:
            examples.append((it["followup"], rw))
    n = len(items)
    rows = [(m, f"{found[m] / n:.3f}", f"{found[m]}/{n}") for m in methods]
    rewrite_ms.sort()
    body = "\n\n".join([
        header(f"{n} follow-ups from {args.articles} bench-split SQuAD dev articles ({len(paras)} paragraphs), "
               f"dense retrieval, k=3; rewrite by {s.models.generator}, greedy, median "
               f"{rewrite_ms[n // 2]:.0f} ms a rewrite. Command: `python benchmarks/bench_followup.py --write`."),
        table(["query", "recall@3", "found"], rows),
        "Rewrites (follow-up -> standalone question), the first five:\n\n"
        + "\n".join(f"- {f!r} -> {r!r}" for f, r in examples),
    ])
    print(body)
    if args.write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
