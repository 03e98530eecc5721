"""Rebuild this folder's subset of SQuAD v1.1 dev from ../shared/data/squad_dev (run from the repo root).

Questions of three Super Bowl 50 paragraphs: every fifth one (per paragraph) goes to test.jsonl,
the rest to train.jsonl. corpus.jsonl holds the article's first twelve paragraphs (the three
plus distractors for RAFT). The answer kept is the annotators' consensus (most words shared
with the others; ties: the longest).
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from pathlib import Path

SRC = Path("../shared/data/squad_dev")
OUT = Path(__file__).resolve().parent
DOCS = ["squad:Super_Bowl_50:2", "squad:Super_Bowl_50:3", "squad:Super_Bowl_50:4"]


def consensus(answers: list[str]) -> str:
    """The annotators' answer sharing the most words with the others (ties: the longest)."""
    def overlap(a: str, b: str) -> float:
        x, y = Counter(a.lower().split()), Counter(b.lower().split())
        common = sum((x & y).values())
        return 2 * common / (sum(x.values()) + sum(y.values())) if common else 0.0

    cands = list(dict.fromkeys(a.strip() for a in answers))
    return max(cands, key=lambda a: (sum(overlap(a, b) for b in answers), len(a)))


def main() -> None:
    corpus = [json.loads(x) for x in (SRC / "corpus.jsonl").read_text().splitlines()]
    qa = [json.loads(x) for x in (SRC / "qa.jsonl").read_text().splitlines()]
    keep = [c for c in corpus if c["id"].startswith("squad:Super_Bowl_50:")][:12]
    train, test = [], []
    for doc in DOCS:
        unique: OrderedDict[str, dict] = OrderedDict()
        for q in qa:
            if q["doc_id"] == doc:
                unique.setdefault(q["question"].strip(), q)
        for i, q in enumerate(unique.values()):
            answer = consensus(q["answers"])
            row = {"id": q["id"], "question": q["question"].strip(), "answer": answer, "answers": q["answers"],
                   "doc_id": doc}
            (test if i % 5 == 4 else train).append(row)
    for name, rows in [("corpus.jsonl", keep), ("train.jsonl", train), ("test.jsonl", test)]:
        (OUT / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(keep)} paragraphs, {len(train)} train and {len(test)} test questions")


if __name__ == "__main__":
    main()
