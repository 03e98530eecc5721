"""The freshness experiment: build on old facts, update them, and see who keeps up, at what cost.

Each fact of the updates file has an old and a new context and answer. A knowledge base of the
old contexts is built and, when a fine-tuned mode runs, an ``ft`` model trained on the old facts
(``fresh-old``, the ft recipe with ``freshness_epochs``). Every mode answers; then the contexts
are replaced in place and the knowledge base re-ingested (the update's cost is measured), the
retrieval modes answer again, and (``retrain_for_freshness``) a model trained on the new facts
(``fresh-new``) shows what fine-tuning pays to keep up. Scores are answer recall of the new and
the old answer.

Removed facts (``sizes.removed_facts``): further items whose documents are in the old knowledge
base and the old model's training, and are *deleted* at the update (a discontinued product, a
withdrawn policy) instead of changed; the retrained model does not learn them. How often each
mode still asserts the removed fact (its answer's recall) is measured before the deletion, after
it, and after retraining (``FreshnessRun.removed`` -> results' ``removed_facts``).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.evaluate import metrics as M
from ragtune.evaluate.datasets import Doc, Question, Update, load_updates
from ragtune.evaluate.docfiles import safe_name, write_docs
from ragtune.evaluate.modes import QA_TABLE
from ragtune.evaluate.results import Estimate, FreshnessResult
from ragtune.evaluate.training import Contender, ft_contender
from ragtune.evaluate.workspace import fingerprint
from ragtune.kb import KnowledgeBase, list_kbs, open_kb
from ragtune.progress import progress

if TYPE_CHECKING:
    from ragtune.evaluate.qa import QARunner


def delete_docs(kb: KnowledgeBase, folder: Path, doc_ids: list[str]) -> int:
    """Delete documents from the knowledge base (and their files from ``folder``); the chunks removed."""
    removed = 0
    for doc_id in doc_ids:
        f = folder / f"{safe_name(doc_id)}.txt"
        removed += kb.delete_source(f).chunks_removed
        f.unlink(missing_ok=True)
    return removed


def removed_items(path: Path, ups: list[Update], n: int, seed: int) -> list[Update]:
    """``n`` more items of the updates file, never among ``ups`` (the same seeded order, continued)."""
    taken = {u.id for u in ups}
    return [u for u in load_updates(path, len(ups) + n, seed) if u.id not in taken][:n]


class Freshness:
    """Runs on the QA runner's settings, workspace and results, after its main comparison."""

    KB = "fresh"

    def __init__(self, qa: QARunner):
        self.qa, self.exp, self.s, self.ws, self.res, self.show = qa, qa.exp, qa.s, qa.ws, qa.res, qa.show
        self.removed: dict[str, Any] | None = None  # the removed-facts measurement, when sizes.removed_facts

    def ft(self, name: str, qs: list[Question], answers: dict[str, str]) -> Contender:
        """A small ft model on a few facts: the ft contender's recipe, with more passes."""
        t = self.exp.train
        cfg = t.config("ft", self.exp.seed, epochs=t.freshness_epochs)
        return ft_contender(name, qs, cfg, self.KB if t.cpt_docs else None, answers)

    def run(self, ups: list[Update]) -> None:
        """Build on the old facts, update to the new ones, measure who keeps up and at what cost."""
        if not ups:
            return
        exp, qa = self.exp, self.qa
        folder = self.ws.root / "fresh_docs"
        gone = removed_items(exp.path(exp.data.updates), ups, exp.sizes.removed_facts, exp.seed) \
            if exp.sizes.removed_facts else []
        old_docs = [Doc(u.id, "", u.old_context) for u in ups + gone]
        kb_name = self.KB
        fp_old = fingerprint([(d.id, d.text) for d in old_docs], self.s.chunking.model_dump(), self.s.models.embedder)
        # The KB always starts this stage at the old facts (the update is part of the measurement).
        if kb_name in list_kbs(self.s):
            KnowledgeBase.delete(self.s, kb_name)
        if folder.exists():
            shutil.rmtree(folder)
        write_docs(folder, old_docs)
        kb = KnowledgeBase.create(self.s, kb_name)
        kb.ingest([folder], show_progress=self.show)
        want_ft = any(m in self.exp.modes for m in ("ft", "ft+rag"))
        qs = [Question(u.id, u.question, [u.old_answer]) for u in ups]
        gone_qs = [Question(u.id, u.question, [u.old_answer]) for u in gone]
        trained: dict[str, Any] = {}
        if want_ft:
            trained["ft"] = qa.train(self.ft("fresh-old", qs + gone_qs, {u.id: u.old_answer for u in ups + gone}))
        modes = ["base", "rag"] + (["ft", "ft+rag"] if want_ft else [])
        before = {m: self._fresh_answers(m, ups, trained, kb_name, f"before-{fp_old}") for m in modes}
        gone_before = {m: self._fresh_answers(m, gone, trained, kb_name, f"before-{fp_old}") for m in modes}
        # The update: new contexts replace the old ones, in place.
        write_docs(folder, [Doc(u.id, "", u.new_context) for u in ups])
        t0 = time.perf_counter()
        rep = open_kb(self.s, kb_name).ingest([folder], show_progress=self.show)
        update_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        chunks_deleted = delete_docs(open_kb(self.s, kb_name), folder, [u.id for u in gone])
        delete_s = time.perf_counter() - t0
        gone_after = {m: (gone_before[m] if m in ("base", "ft") else
                          self._fresh_answers(m, gone, trained, kb_name, f"deleted-{fp_old}")) for m in modes}
        after = {m: (before[m] if m in ("base", "ft") else
                     self._fresh_answers(m, ups, trained, kb_name, f"after-{fp_old}")) for m in modes}
        retrain_s = None
        after_retrain: dict[str, list[str]] = {}
        gone_retrain: dict[str, list[str]] = {}
        if want_ft and exp.train.retrain_for_freshness:
            t0 = time.perf_counter()
            rec = qa.train(self.ft("fresh-new", qs, {u.id: u.new_answer for u in ups}))
            retrain_s = rec["setup_s"] if rec.get("setup_s") else time.perf_counter() - t0
            tr2 = {"ft": rec}
            for m in ("ft", "ft+rag"):
                after_retrain[m] = self._fresh_answers(m, ups, tr2, kb_name, f"retrain-{fp_old}")
                gone_retrain[m] = self._fresh_answers(m, gone, tr2, kb_name, f"retrain-{fp_old}")
        olds = [[u.old_answer] for u in ups]
        news = [[u.new_answer] for u in ups]

        def est(preds: list[str], golds: list[list[str]]) -> Estimate:
            return Estimate.of([M.answer_recall(M.strip_citations(p), g) for p, g in zip(preds, golds, strict=True)],
                               seed=exp.seed)

        for m in modes:
            fr = FreshnessResult(mode=m, n=len(ups), metric="answer_recall",
                                 new_before=est(before[m], news), new_after=est(after[m], news),
                                 old_after=est(after[m], olds))
            if m in ("rag", "ft+rag"):
                fr.update_s = update_s
            if m in after_retrain:
                fr.retrain_s = retrain_s
                fr.new_after_retrain = est(after_retrain[m], news)
                fr.old_after_retrain = est(after_retrain[m], olds)
            self.res.add_freshness(fr)
        if gone:
            asserted = [[u.old_answer] for u in gone]
            self.removed = {"n": len(gone), "metric": "answer_recall", "delete_s": delete_s,
                            "chunks_deleted": chunks_deleted, "modes": {}}
            for m in modes:
                row = {"before": est(gone_before[m], asserted), "after_delete": est(gone_after[m], asserted)}
                if m in gone_retrain:
                    row["after_retrain"] = est(gone_retrain[m], asserted)
                self.removed["modes"][m] = {k: asdict(v) for k, v in row.items()}
            qa.notes.append(f"freshness: {len(gone)} documents deleted from the knowledge base ({chunks_deleted} "
                            f"chunks, {delete_s:.1f} s); removed facts are asked again after the deletion")
        qa.notes.append(f"freshness: {len(ups)} facts updated; the knowledge-base update re-embedded "
                          f"{len(rep.updated)} documents in {update_s:.1f} s")

    def _fresh_answers(self, mode: str, ups: list[Update], trained: dict[str, Any], kb: str, phase: str) -> list[str]:
        fp = fingerprint(phase, mode, trained.get("ft", {}).get("fingerprint"), self.exp.sizes.freshness_top_k,
                         self.s.prompts.model_dump(),
                         self.s.generation.model_dump(), self.s.retrieval.model_dump())
        cache_mode = f"fresh-{mode}"
        cached = self.ws.cached_answers(cache_mode, fp)
        out = []
        with progress(self.show) as bar:
            task = bar.add_task(f"freshness {mode} ({phase.split('-')[0]})", total=len(ups))
            for u in ups:
                if u.id in cached:
                    out.append(cached[u.id]["prediction"])
                else:
                    a = self.qa.ask(QA_TABLE[mode], u.question, trained, kb=kb, top_k=self.exp.sizes.freshness_top_k)
                    self.ws.save_answer(cache_mode, fp, u.id, {"prediction": a.text, "question": u.question})
                    out.append(a.text)
                bar.advance(task)
        return out


