"""The data of a comparison: documents, questions with gold answers, updates, labelled texts.

Splits never leak: a test question is never in any training set. For SQuAD-style data the
questions of each paragraph are split, so fine-tuning sees a paragraph's other questions and
its text, never the test questions themselves (the split is checked, not assumed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragtune.errors import DataError
from ragtune.train.data import jsonl_rows


@dataclass
class Doc:
    id: str
    title: str
    text: str


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    doc_id: str | None = None


@dataclass
class Update:
    id: str
    question: str
    old_context: str
    old_answer: str
    new_context: str
    new_answer: str


@dataclass
class Labeled:
    id: str
    text: str
    label: str


@dataclass
class QASplit:
    docs: list[Doc]
    train: list[Question]
    test: list[Question]
    updates: list[Update] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sizes lowered to what the data has, and why

    def doc(self, doc_id: str) -> Doc | None:
        return next((d for d in self.docs if d.id == doc_id), None)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file, each with ``_where`` ("path:line") for error messages."""
    return [{**obj, "_where": where} for where, obj in jsonl_rows(path)]


def _need(row: dict[str, Any], key: str) -> Any:
    if key not in row or row[key] in (None, "", []):
        raise DataError(f"{row['_where']}: missing field {key!r}")
    return row[key]


def load_corpus_and_questions(corpus: str | Path | None, questions: str | Path | None,
                              faq: str | Path | None = None) -> tuple[list[Doc], list[Question]]:
    """SQuAD-style (corpus: id,title,text; questions: id,question,answers,doc_id) or a FAQ
    (id,question,answer: each entry is a document titled by its question, and that question)."""
    if faq:
        docs, qs = [], []
        for r in read_jsonl(faq):
            rid = str(_need(r, "id"))
            q, a = _need(r, "question"), _need(r, "answer")
            docs.append(Doc(rid, q, f"{q}\n\n{a}"))
            qs.append(Question(f"q-{rid}", q, [a], rid))
        return docs, qs
    if not (corpus and questions):
        raise DataError("a QA experiment needs data.corpus and data.questions (or data.faq)")
    docs = [Doc(str(_need(r, "id")), str(r.get("title", "")), _need(r, "text")) for r in read_jsonl(corpus)]
    qs = []
    for i, r in enumerate(read_jsonl(questions)):
        answers = _need(r, "answers")
        answers = [answers] if isinstance(answers, str) else [str(a) for a in answers]
        qs.append(Question(str(r.get("id", i)), _need(r, "question"), answers, r.get("doc_id")))
    return docs, qs


def split_qa(docs: list[Doc], questions: list[Question], *, n_docs: int | None, n_test: int,
             n_train: int | None, seed: int, faq_mode: bool = False,
             required: frozenset[str] | set[str] = frozenset()) -> QASplit:
    """Pick ``n_docs`` documents that have questions, then split their questions.

    SQuAD-style: per document, up to a fair share of its questions go to test and the rest to
    train. FAQ-style (one question per document): whole questions go to one side; the
    documents all stay in the knowledge base (that is what a support KB is).

    Every size is honoured: a size named in ``required`` (the ones the experiment sets) that the
    data cannot give fails here, before any work, saying what the data allows; any other size
    is lowered to what there is and the change is written in ``QASplit.notes``.
    """
    rng = random.Random(seed)
    notes: list[str] = []
    by_doc: dict[str, list[Question]] = {}
    for q in questions:
        by_doc.setdefault(q.doc_id or "", []).append(q)
    doc_ids = [d.id for d in docs if d.id in by_doc]
    if n_docs:
        honour("docs", n_docs, len(doc_ids), required, notes, "documents with questions")
        rng.shuffle(doc_ids)
        doc_ids = sorted(doc_ids[:n_docs], key=[d.id for d in docs].index)
    chosen = [d for d in docs if d.id in set(doc_ids)]
    if faq_mode:
        chosen = list(docs)  # every FAQ entry is knowledge; only questions are held out
        pool = [q for d in doc_ids for q in by_doc[d]]
        rng.shuffle(pool)
        test, train = pool[:n_test], pool[n_test:]
    else:
        test, train = [], []
        per_doc = max(1, -(-n_test // max(len(doc_ids), 1)))
        shuffled = {d: list(by_doc[d]) for d in doc_ids}
        for qs in shuffled.values():
            rng.shuffle(qs)  # in document order, as the split has always drawn them
        take = {d: min(per_doc, max(len(qs) - 1, 0)) for d, qs in shuffled.items()}
        while sum(take.values()) < n_test:  # top up from documents that still keep a training question
            spare = [d for d in doc_ids if len(shuffled[d]) - take[d] > 1]
            if not spare:
                break
            for d in spare[: n_test - sum(take.values())]:
                take[d] += 1
        for d in doc_ids:
            test += shuffled[d][: take[d]]
            train += shuffled[d][take[d]:]
        rng.shuffle(test)
        test, surplus = test[:n_test], test[n_test:]
        train += surplus  # questions the test split did not need are training questions, not lost
    where = f" (docs={len(chosen)})"
    honour("test_questions", n_test, len(test), required, notes, "held-out questions" + where)
    seen = {q.question.strip().lower() for q in test}
    dupes = [q for q in train if q.question.strip().lower() in seen]
    train = [q for q in train if q.question.strip().lower() not in seen]
    if dupes:
        notes.append(f"training questions left out because they repeat a test question word for word: {len(dupes)}")
    if n_train is not None:
        honour("train_questions", n_train, len(train), required, notes,
                f"training questions beside {len(test)} test questions" + where)
        train = train[:n_train]
    check_no_leak(train, test)
    if not test:
        raise DataError("no test questions after the split; raise sizes.test_questions or add data")
    return QASplit(chosen, train, test, notes=notes)


def honour(name: str, asked: int, available: int, required: frozenset[str] | set[str], notes: list[str],
            what: str) -> None:
    """Fail (when the experiment set ``sizes.<name>``) or note (a default) that the data has too few."""
    if available >= asked:
        return
    if name in required:
        raise DataError(f"sizes.{name}={asked} but the data allows at most {available} {what}; "
                        f"set sizes.{name}={available} or add data")
    notes.append(f"sizes.{name}: {available} instead of {asked}, all the data has ({what})")


def check_no_leak(train: list[Question], test: list[Question]) -> None:
    tr = {q.question.strip().lower() for q in train} | {q.id for q in train}
    leaked = [q for q in test if q.question.strip().lower() in tr or q.id in tr]
    if leaked:
        raise DataError(f"test question {leaked[0].id!r} is also in the training set; the split leaks")


def load_updates(path: str | Path, n: int, seed: int) -> list[Update]:
    rows = read_jsonl(path)
    ups = [Update(str(r.get("id", i)), _need(r, "question"), _need(r, "old_context"), str(_need(r, "old_answer")),
                  _need(r, "new_context"), str(_need(r, "new_answer"))) for i, r in enumerate(rows)]
    # Only items where the update really changes the text and the two answers differ.
    ups = [u for u in ups if u.old_answer.lower() != u.new_answer.lower() and u.new_answer in u.new_context]
    rng = random.Random(seed)
    rng.shuffle(ups)
    return ups[:n]


def load_labeled(path: str | Path, n: int | None, seed: int, text_field: str = "text",
                 label_field: str = "label") -> list[Labeled]:
    rows = read_jsonl(path)
    out = [Labeled(str(r.get("id", i)), str(_need(r, text_field)), str(_need(r, label_field)).strip().lower())
           for i, r in enumerate(rows)]
    rng = random.Random(seed)
    rng.shuffle(out)
    if n:
        out = stratified(out, n, seed)
    return out


def stratified(rows: list[Labeled], n: int, seed: int) -> list[Labeled]:
    """``n`` rows keeping the label proportions (largest remainder), in a seeded order."""
    by: dict[str, list[Labeled]] = {}
    for r in rows:
        by.setdefault(r.label, []).append(r)
    total = len(rows)
    quota = {k: n * len(v) / total for k, v in by.items()}
    take = {k: int(q) for k, q in quota.items()}
    for k in sorted(quota, key=lambda k: -(quota[k] - take[k]))[: n - sum(take.values())]:
        take[k] += 1
    out = [r for k, v in by.items() for r in v[: take[k]]]
    random.Random(seed).shuffle(out)
    return out
