"""Question answering over a knowledge base: every contender on the same held-out questions.

Stages (each resumable, see ``workspace``): knowledge base, retrieval quality, the trained
``ft`` and ``raft`` contenders (``training``: the recipes of ``ragtune train``), the answers of
every mode (``modes``: the table of what each mode is), taking turns question by question so
their latencies compare (``answering``), scores, costs (``costs``: each stage's wall time, peak
memory and training speed), and the freshness experiment (``freshness``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.errors import DataError
from ragtune.evaluate import metrics as M
from ragtune.evaluate.answering import answer_stage, concurrency_for, interleave, run_jobs
from ragtune.evaluate.costs import record_stages
from ragtune.evaluate.datasets import (
    Doc,
    Question,
    Update,
    honour,
    load_corpus_and_questions,
    load_updates,
    split_qa,
)
from ragtune.evaluate.docfiles import doc_of, hashed, safe_name, write_docs
from ragtune.evaluate.experiment import ExperimentConfig
from ragtune.evaluate.freshness import Freshness
from ragtune.evaluate.kb_quality import KBQuality
from ragtune.evaluate.learning_curve import LearningCurve
from ragtune.evaluate.modes import QA_TABLE, QAMode
from ragtune.evaluate.results import ComparisonResults, ItemRecord, RetrievalQuality
from ragtune.evaluate.training import Contender, ft_contender, long_questions, raft_contender, skipped_note
from ragtune.evaluate.until_decisive import hold_back, until_decisive
from ragtune.evaluate.versatility import Versatility
from ragtune.evaluate.workspace import PeakMemory, Workspace, fingerprint
from ragtune.generate.prompts import rag_messages
from ragtune.kb import KnowledgeBase, dir_size, list_kbs, open_kb
from ragtune.pipeline import Pipeline, find_trained
from ragtune.progress import progress
from ragtune.registry import resolve
from ragtune.train.model_io import hf_cache_dir
from ragtune.types import Answer, Chunk, Hit


class QARunner:
    def __init__(self, exp: ExperimentConfig, settings: Settings, ws: Workspace, res: ComparisonResults,
                 show_progress: bool | None = None):
        self.exp, self.s, self.ws, self.res = exp, settings, ws, res
        self.show = show_progress
        self.pipe = Pipeline(settings, log=False)
        self.mem = PeakMemory()
        self.notes: list[str] = []
        self._concurrency: int | None = None
        # Over every answer_modes call of this run: the records, answers given now, wall time, peak memory.
        self._answered: dict[str, dict[str, ItemRecord]] = {}
        self._new: dict[str, int] = {}
        self._answer_s = self._answer_peak_mb = 0.0

    # ---------------------------------------------------------------------------------------
    def run(self) -> None:
        exp = self.exp
        docs, qs = load_corpus_and_questions(exp.path(exp.data.corpus), exp.path(exp.data.questions),
                                             exp.path(exp.data.faq))
        split = split_qa(docs, qs, n_docs=exp.sizes.docs, n_test=exp.sizes.test_questions,
                         n_train=exp.sizes.train_questions, seed=exp.seed, faq_mode=bool(exp.data.faq),
                         required=exp.required_sizes())
        split, pool = hold_back(exp, split, qs)  # --until-decisive: questions to add later, apart from training
        self.split = split
        self.notes.extend(split.notes)
        updates = self.updates()  # read (and sized) now: a size the data cannot give fails before any work
        self.res.config["split"] = {"docs": len(split.docs), "train_questions": len(split.train),
                                    "test_questions": len(split.test)}
        modes = exp.all_modes()
        for m in modes:
            mode = QA_TABLE[m]
            self.res.add_mode(m, description=mode.description, family=mode.family, model=self.s.models.generator,
                              kb="docs" if mode.retrieves else None)
        needed = {QA_TABLE[m].model for m in modes} - {None}
        ft = ft_contender("ft", split.train, exp.train.config("ft", exp.seed), "docs" if exp.train.cpt_docs else None)
        if "ft" in needed:
            self.check_lengths(ft)  # before any work: a long question fails (or is counted) now, not after minutes
        kb_info = self.build_kb("docs", self.ws.root / "docs", split.docs)
        self.retrieval_quality(split.test)
        trained: dict[str, Any] = {}
        if "ft" in needed:
            trained["ft"] = self.train(ft)
        if "raft" in needed:
            raft = raft_contender(self.s, "raft", split.train, exp.train.config("raft", exp.seed), "docs",
                                  **exp.train.raft_options())
            trained["raft"] = self.train(raft)
            kept = trained["raft"].get("examples")
            if kept is not None and kept < len(raft.rows):
                self.notes.append(skipped_note(raft, len(raft.rows) - kept, len(raft.rows)))
        answers = self.answer_modes(modes, split.test, trained)
        self.score(answers, split.test)
        if exp.decide.until_decisive:  # more questions in batches (answered like the first), until decided
            d = exp.decide
            self.notes.append(until_decisive(self.res, pool, lambda batch: self.score(
                self.answer_modes(modes, batch, trained), batch),
                batch=d.batch, budget_questions=d.budget_questions, budget_minutes=d.budget_minutes).summary())
        self.costs(kb_info, trained, modes)
        if updates:
            fresh = Freshness(self)
            fresh.run(updates)
            self.res.removed_facts = fresh.removed
        self.res.learning_curve = LearningCurve(self).run(split.test, trained)
        self.res.kb_quality = KBQuality(self).run(split.test, trained)
        self.res.versatility = Versatility(self).run(split.test, trained)
        self.res.notes.extend(self.notes)
        record_stages(self.res, self.ws.used)  # each stage's cost, and whether the latencies compare

    def updates(self) -> list[Update]:
        """The freshness items, ``sizes.freshness_items`` of them (fails or notes when there are fewer)."""
        exp = self.exp
        if not (exp.data.updates and exp.sizes.freshness_items):
            return []
        ups = load_updates(exp.path(exp.data.updates), exp.sizes.freshness_items, exp.seed)
        honour("freshness_items", exp.sizes.freshness_items, len(ups), exp.required_sizes(), self.notes,
               "updates whose answer changes")
        return ups

    @staticmethod
    def order(modes: list[str]) -> list[str]:
        """Closed-book answers first: the retrieval modes compare against them (context reliance)."""
        return sorted(modes, key=lambda m: (QA_TABLE[m].retrieves, modes.index(m)))

    # ---- knowledge base ------------------------------------------------------------------------
    def build_kb(self, name: str, folder: Path, docs: list[Doc]) -> dict[str, Any]:
        # A hashed file name is part of what is built (before hashes, a long id was cut short).
        fp = fingerprint([(d.id, d.text, *([safe_name(d.id)] if hashed(d.id) else [])) for d in docs],
                         self.s.chunking.model_dump(), self.s.models.embedder)
        rec = self.ws.stage(f"kb-{name}", fp)
        if rec and name in list_kbs(self.s):
            return rec
        if name in list_kbs(self.s):
            KnowledgeBase.delete(self.s, name)
        if folder.exists():
            shutil.rmtree(folder)
        write_docs(folder, docs)
        with self.mem.watch() as mem:
            t0 = time.perf_counter()
            kb = KnowledgeBase.create(self.s, name)
            rep = kb.ingest([folder], show_progress=self.show)
            secs = time.perf_counter() - t0
        return self.ws.finish(f"kb-{name}", fp, {"setup_s": secs, "index_bytes": dir_size(kb.root),
                                                 "chunks": rep.chunks_added, **mem.record()})

    def retrieval_quality(self, test: list[Question]) -> None:
        kb = open_kb(self.s, "docs")
        golds = [[q.doc_id] if q.doc_id else [] for q in test]
        for mode in ("dense", "bm25", "hybrid"):
            rankings = []
            for q in test:
                seen: list[str] = []
                for h in kb.search(q.question, k=20, mode=mode):
                    if doc_of(h) not in seen:
                        seen.append(doc_of(h))
                rankings.append(seen[:10])
            if any(golds):
                self.res.add_retrieval(RetrievalQuality.from_rankings(mode, rankings,
                                                                      [[safe_name(g) for g in gs] for gs in golds],
                                                                      seed=self.exp.seed))

    # ---- trained contenders -------------------------------------------------------------------
    def check_lengths(self, contender: Contender) -> None:
        """Fail on a training question longer than ``max_seq_len`` unless long ones are skipped (then count them)."""
        long = long_questions(self.s, contender)
        if long and not contender.cfg.skip_long:
            raise DataError(f"{contender.name}: training question {long[0]!r} (and {len(long) - 1} more) is longer "
                            f"than max_seq_len {contender.cfg.max_seq_len} tokens; raise train.max_seq_len or set "
                            "train.skip_long = true")
        if long:
            self.notes.append(skipped_note(contender, len(long), len(contender.rows)))

    def train(self, contender: Contender) -> dict[str, Any]:
        """Train ``contender`` through its recipe, unless the workspace holds it already."""
        fp = contender.fingerprint(self.s)
        rec = self.ws.stage(f"train-{contender.name}", fp)
        if rec and find_trained(self.s, contender.name):
            return rec
        with self.mem.watch() as mem:
            info = contender.train(self.s, self.ws.root / "train", self.show)
        return self.ws.finish(f"train-{contender.name}", fp, {**info, **mem.record()})

    # ---- answering -----------------------------------------------------------------------------
    def ask(self, mode: QAMode, question: str, trained: dict[str, Any], kb: str = "docs",
            examples: list[tuple[str, str]] | None = None, top_k: int | None = None) -> Answer:
        """One answer the way ``mode`` answers (see the table in ``modes``)."""
        pipe = self.pipe
        if mode.system is not None:
            prompts = self.s.prompts.model_copy(update={"system": mode.system})
            pipe = Pipeline(self.s.model_copy(update={"prompts": prompts}), log=False)
        kw: dict[str, Any] = {**({"top_k": top_k} if top_k else {}), **mode.options}
        model = {"model": trained[mode.model]["name"]} if mode.model else {}
        if mode.ask == "base":
            return pipe.ask(question, mode="base", examples=examples)
        if mode.ask == "rag":
            return pipe.ask(question, mode="rag", kb=kb, examples=examples, **kw)
        if mode.ask == "ft":
            return pipe.ask(question, mode="ft", **model)
        if mode.ask == "ft+rag":
            return pipe.ask(question, mode="ft+rag", kb=kb, **model, **kw)
        return pipe.ask(question, mode=mode.ask, kb=kb, **model)

    def few_shot(self) -> list[tuple[str, str]]:
        """Demonstrations for rag/few-shot: training questions with their own passage."""
        p = self.s.prompts
        out = []
        for q in self.split.train:
            d = self.split.doc(q.doc_id) if q.doc_id else None
            if d is None:
                continue
            hit = Hit(Chunk("demo", d.id, d.id, d.text), 1.0)
            user = rag_messages(q.question, [hit], p)[-1]["content"]
            out.append((user, f"{q.answers[0]} [1]"))
            if len(out) >= self.exp.sizes.demonstrations:
                break
        return out

    def mode_fp(self, mode: QAMode, trained: dict[str, Any]) -> str:
        parts: list[Any] = [mode.name, mode.options, self.s.prompts.model_dump(), self.s.generation.model_dump(),
                            self.s.retrieval.model_dump(), self.s.models.generator,
                            self.ws.stage_fp("kb-docs"), self.s.reader.model_dump(), self.s.citations.model_dump()]
        if mode.model:
            parts.append(trained[mode.model]["fingerprint"])
        if mode.few_shot:
            parts.append(self.exp.sizes.demonstrations)
        if mode.system is not None:
            parts.append(mode.system)
        return fingerprint(*parts)

    def concurrency(self) -> int:
        """Answers sent at once: the experiment's ``concurrency`` for an HTTP generator, else 1."""
        if self._concurrency is None:
            self._concurrency = concurrency_for(self.s, self.exp.concurrency, self.notes)
        return self._concurrency

    def answer_modes(self, modes: list[str], test: list[Question], trained: dict[str, Any]
                     ) -> dict[str, dict[str, ItemRecord]]:
        """Every mode's answer to every question of ``test``: the modes take turns question by question
        (``answering.interleave``), ``concurrency()`` at a time; answers cached in the workspace are reused.

        Writes ``results.stages["answer"]`` (over every call of this run) and each mode's peak memory.
        """
        order = self.order(modes)
        fps = {m: self.mode_fp(QA_TABLE[m], trained) for m in order}
        examples = {m: self.few_shot() if QA_TABLE[m].few_shot else None for m in order}
        out: dict[str, dict[str, ItemRecord]] = {}
        for m in order:
            cached = self.ws.cached_answers(m, fps[m])
            out[m] = {q.id: ItemRecord.from_dict(cached[q.id]) for q in test if q.id in cached}
        questions = {q.id: q for q in test}
        jobs = [j for j in interleave(order, list(questions)) if j.item_id not in out[j.mode]]
        session = self.res.run_id

        def answer(job) -> ItemRecord:
            q, started = questions[job.item_id], time.time()
            a = self.ask(QA_TABLE[job.mode], q.question, trained, examples=examples[job.mode])
            rec = ItemRecord.from_answer(a, q.id, q.answers, gold_ids=[safe_name(q.doc_id)] if q.doc_id else [],
                                         extra={"kb_version": a.kb_version, "abstained": a.abstained,
                                                "decode_tok_s": a.timings.get("decode_tok_s"),
                                                "answer_session": session, "answered_at": round(started, 3)})
            rec.mode = job.mode
            return rec

        with self.mem.watch() as mem, progress(self.show) as bar:
            tasks = {m: bar.add_task(f"answering {m}", total=len(test), completed=len(out[m])) for m in order}

            def done(job, rec: ItemRecord) -> None:
                self.ws.save_answer(job.mode, fps[job.mode], job.item_id, rec.to_dict())
                out[job.mode][job.item_id] = rec
                self._new[job.mode] = self._new.get(job.mode, 0) + 1
                bar.advance(tasks[job.mode])

            t0 = time.perf_counter()
            run_jobs(jobs, answer, done, self.concurrency())
            self._answer_s += time.perf_counter() - t0
        answers = {m: {q.id: out[m][q.id] for q in test} for m in order}
        for m in order:
            self._answered.setdefault(m, {}).update(answers[m])
            self.res.set_costs(m, peak_memory_mb=round(mem.peak_mb, 1))
        self._answer_peak_mb = max(self._answer_peak_mb, mem.peak_mb)
        memory = {**mem.record(), "peak_mb": round(self._answer_peak_mb, 1)}
        self.res.stages["answer"] = answer_stage(self._answered, self._new, self.concurrency(), self._answer_s, memory)
        return answers

    # ---- scoring -------------------------------------------------------------------------------
    def score(self, answers: dict[str, dict[str, ItemRecord]], test: list[Question]) -> None:
        emb = open_kb(self.s, "docs").embedder
        for mode, recs in answers.items():
            preds = [M.strip_citations(recs[q.id].prediction) for q in test]
            pvecs = emb.encode(preds)
            for i, q in enumerate(test):
                rec = recs[q.id]
                gvecs = emb.encode(q.answers)
                ctx = [r.text for r in rec.retrieved]
                cited = [c.text for c in rec.citations if c.cited]
                ref_mode = QA_TABLE[mode].closed_book
                without = answers[ref_mode][q.id].prediction if ref_mode in answers else None
                rec.scores = M.qa_scores(rec.prediction, q.answers, context_texts=ctx or None,
                                         cited_texts=cited if ctx else None,
                                         answer_without_context=without if ctx else None,
                                         pred_vec=pvecs[i], gold_vecs=gvecs, sentences=rec.sentences)
                self.res.add_item(rec)

    def costs(self, kb_info: dict[str, Any], trained: dict[str, Any], modes: list[str]) -> None:
        spec = resolve(self.s.models.generator, self.s)
        base = Path(spec.path) if spec.path else None
        base_bytes = (base.stat().st_size if base.is_file() else dir_size(base) if base.is_dir() else None) \
            if base else None
        # A merged model is a float folder: it compares with a base folder, not with a quantised file.
        merged = _merged_bytes(spec)
        same_format = base is not None and base.is_dir()
        for m in modes:
            mode = QA_TABLE[m]
            c: dict[str, Any] = {"base_model_bytes": base_bytes, "setup_s": 0.0, "setup_detail": {}}
            if mode.retrieves:
                c["index_bytes"] = kb_info["index_bytes"]
                c["setup_s"] += kb_info["setup_s"]
                c["setup_detail"]["ingest_s"] = kb_info["setup_s"]
            tr = trained.get(mode.model) if mode.model else None
            if tr:
                c["adapter_bytes"] = tr["adapter_bytes"]
                c["merged_bytes" if same_format else "merged_float_bytes"] = merged
                c["setup_s"] += tr["setup_s"]
                c["setup_detail"]["train_s"] = tr["setup_s"]
            self.res.set_costs(m, **c)


def _merged_bytes(spec) -> int | None:
    """A merged model is a full float copy of the base: the size of the dequantised folder."""
    try:
        d = hf_cache_dir(spec)
        return dir_size(d) if d.exists() else None
    except Exception:  # an unreadable model or cache folder: the size is then unknown
        return None
