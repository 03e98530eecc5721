"""Question answering over a knowledge base: every contender on the same held-out questions.

Stages (each resumable, see ``workspace``): knowledge base, retrieval quality, the ``ft`` and
``raft`` models, answers per mode, scores, and the freshness experiment.
"""

from __future__ import annotations

import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.evaluate import metrics as M
from ragtune.evaluate.datasets import (
    Doc,
    Question,
    Update,
    load_corpus_and_questions,
    load_updates,
    split_qa,
)
from ragtune.evaluate.experiment import ExperimentConfig
from ragtune.evaluate.results import (
    ComparisonResults,
    Estimate,
    FreshnessResult,
    ItemRecord,
    RetrievalQuality,
)
from ragtune.evaluate.training import chat_example, text_examples, train_adapter
from ragtune.evaluate.workspace import PeakMemory, Workspace, fingerprint
from ragtune.generate.prompts import base_messages, rag_messages
from ragtune.kb import KnowledgeBase, dir_size, list_kbs, open_kb
from ragtune.pipeline import Pipeline
from ragtune.progress import progress
from ragtune.registry import resolve
from ragtune.types import Answer, Hit

DESCRIPTIONS = {
    "base": "closed-book: the base model alone",
    "rag": "retrieval (hybrid) + the base model, answer cites passages",
    "rag/top1": "RAG with only the best passage in the prompt",
    "rag/few-shot": "RAG with worked examples from the training split before the question",
    "rag/plain": "RAG with a plain prompt (no instruction to answer briefly and cite): what the short-answer "
                 "prompt of `rag` adds",
    "rag/whole": "RAG reading the whole retrieved chunks (reader plain)",
    "rag/focus": "RAG reading only the passage sentence that best matches the question (reader focus)",
    "rag/dense": "RAG with dense retrieval only",
    "rag/bm25": "RAG with BM25 retrieval only",
    "ft": "LoRA on the documents + training questions, closed-book",
    "ft+rag": "the ft model with retrieval",
    "raft": "LoRA trained RAFT-style on retrieved passages with distractors, with retrieval",
}


# The baseline prompt of the rag/plain variant: the usual "answer from the context" instruction.
PLAIN_SYSTEM = "Use the following context to answer the question."


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s)[:100]


def write_docs(folder: Path, docs: list[Doc], texts: dict[str, str] | None = None) -> None:
    """One file per document, so an update re-embeds only what changed."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in docs:
        text = (texts or {}).get(d.id, d.text)
        f = folder / f"{_safe(d.id)}.txt"
        if not f.exists() or f.read_text(encoding="utf-8") != text:
            f.write_text(text, encoding="utf-8")


def doc_of(hit: Hit) -> str:
    return Path(hit.chunk.source).stem


class QARunner:
    def __init__(self, exp: ExperimentConfig, settings: Settings, ws: Workspace, res: ComparisonResults,
                 show_progress: bool | None = None):
        self.exp, self.s, self.ws, self.res = exp, settings, ws, res
        self.show = show_progress
        self.pipe = Pipeline(settings, log=False)
        self.mem = PeakMemory()
        self.notes: list[str] = []

    # ---------------------------------------------------------------------------------------
    def run(self) -> None:
        exp = self.exp
        docs, qs = load_corpus_and_questions(exp.path(exp.data.corpus), exp.path(exp.data.questions),
                                             exp.path(exp.data.faq))
        split = split_qa(docs, qs, n_docs=exp.sizes.docs, n_test=exp.sizes.test_questions,
                         n_train=exp.sizes.train_questions, seed=exp.seed, faq_mode=bool(exp.data.faq))
        self.split = split
        self.res.config["split"] = {"docs": len(split.docs), "train_questions": len(split.train),
                                    "test_questions": len(split.test)}
        modes = exp.all_modes()
        for m in modes:
            self.res.add_mode(m, description=DESCRIPTIONS.get(m, ""), model=self.s.models.generator,
                              kb="docs" if m.startswith(("rag", "ft+rag", "raft")) else None)
        kb_info = self.build_kb("docs", self.ws.root / "docs", split.docs)
        self.retrieval_quality(split.test)
        trained: dict[str, Any] = {}
        if any(m in modes for m in ("ft", "ft+rag")):
            trained["ft"] = self.train_ft("ft", split.docs, split.train)
        if "raft" in modes:
            trained["raft"] = self.train_raft("raft", split.train, split.docs)
        answers = {m: self.answer_all(m, split.test, trained) for m in self.order(modes)}
        self.score(answers, split.test)
        self.costs(kb_info, trained, modes)
        if exp.data.updates and exp.sizes.freshness_items:
            self.freshness(load_updates(exp.path(exp.data.updates), exp.sizes.freshness_items, exp.seed))
        self.res.notes.extend(self.notes)

    @staticmethod
    def order(modes: list[str]) -> list[str]:
        """Closed-book answers first: the retrieval modes compare against them (context reliance)."""
        return sorted(modes, key=lambda m: (m not in ("base", "ft"), modes.index(m)))

    # ---- knowledge base ------------------------------------------------------------------------
    def build_kb(self, name: str, folder: Path, docs: list[Doc]) -> dict[str, Any]:
        fp = fingerprint([(d.id, d.text) for d in docs], self.s.chunking.model_dump(), self.s.models.embedder)
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
                                                 "chunks": rep.chunks_added, "peak_mb": mem.peak_mb})

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
                                                                      [[_safe(g) for g in gs] for gs in golds],
                                                                      seed=self.exp.seed))

    # ---- fine-tuned contenders -----------------------------------------------------------------
    def _tokenizer(self):
        from ragtune.train.model_io import load_tokenizer

        return load_tokenizer(resolve(self.s.models.generator, self.s))

    def _train(self, name: str, fp: str, build, train_cfg: Any = None) -> dict[str, Any]:
        rec = self.ws.stage(f"train-{name}", fp)
        from ragtune.pipeline import find_trained

        if rec and find_trained(self.s, name):
            return rec
        examples = build()
        with self.mem.watch() as mem:
            t = train_adapter(self.s, name, examples, train_cfg or self.exp.train, self.exp.seed, self.show,
                              recipe=name)
        return self.ws.finish(f"train-{name}", fp, {"name": name, "setup_s": t.seconds, "adapter_bytes": t.gguf_bytes,
                                                    "peft_bytes": t.adapter_bytes, "metrics": t.metrics,
                                                    "examples": len(examples), "peak_mb": mem.peak_mb})

    def train_ft(self, name: str, docs: list[Doc], train: list[Question | Update],
                 answers: dict[str, str] | None = None) -> dict[str, Any]:
        """Knowledge in the weights: the documents as text, plus the training questions closed-book."""
        p = self.s.prompts
        cfg = self.exp.train
        if answers is not None:  # the freshness models: a few facts, more passes
            cfg = cfg.model_copy(update={"epochs": cfg.freshness_epochs})

        def build():
            tok = self._tokenizer()
            ex = [chat_example(tok, [*base_messages(q.question, p),
                                     {"role": "assistant", "content": (answers or {}).get(q.id, _first(q))}],
                               cfg.max_seq_len, q.id) for q in train]
            if cfg.cpt_docs:
                ex += text_examples(tok, [d.text for d in docs], cfg.max_seq_len)
            return ex

        fp = fingerprint(name, [(d.id, d.text) for d in docs], [(q.id, q.question, (answers or {}).get(q.id, _first(q)))
                                                                for q in train],
                         cfg.model_dump(), p.base_system, p.base_template, self.exp.seed, self.s.models.generator)
        return self._train(name, fp, build, cfg)

    def train_raft(self, name: str, train: list[Question], docs: list[Doc]) -> dict[str, Any]:
        p = self.s.prompts
        cfg = self.exp.train
        kb = open_kb(self.s, "docs")

        def build():
            tok = self._tokenizer()
            rng = random.Random(self.exp.seed)
            out = []
            for q in train:
                hits = kb.search(q.question, k=cfg.raft_distractors + 4)
                oracle = [h for h in hits if doc_of(h) == _safe(q.doc_id or "")][:1]
                if not oracle:
                    gold = next((d for d in docs if d.id == q.doc_id), None)
                    if gold is None:
                        continue
                    found = kb.search(gold.text[:300], k=3, mode="bm25")
                    oracle = [h for h in found if doc_of(h) == _safe(gold.id)][:1]
                distractors = [h for h in hits if doc_of(h) != _safe(q.doc_id or "")][:cfg.raft_distractors]
                ctx = list(distractors)
                keep_oracle = bool(oracle) and rng.random() >= cfg.raft_drop_oracle
                if keep_oracle:
                    ctx.insert(rng.randrange(len(ctx) + 1), oracle[0])
                answer = _first(q)
                if keep_oracle:
                    answer += f" [{ctx.index(oracle[0]) + 1}]"
                msgs = [*rag_messages(q.question, ctx, p), {"role": "assistant", "content": answer}]
                out.append(chat_example(tok, msgs, cfg.max_seq_len * 2, q.id))
            return out

        fp = fingerprint(name, [(q.id, q.question) for q in train], [(d.id, d.text) for d in docs], cfg.model_dump(),
                         p.model_dump(), self.s.retrieval.model_dump(), self.exp.seed, self.s.models.generator)
        return self._train(name, fp, build)

    # ---- answering -----------------------------------------------------------------------------
    def _ask(self, mode: str, question: str, trained: dict[str, Any], kb: str = "docs",
             examples: list[tuple[str, str]] | None = None, top_k: int | None = None) -> Answer:
        head = mode.split("/")[0]
        kw: dict[str, Any] = {"top_k": top_k} if top_k else {}
        if mode == "rag/top1":
            kw["top_k"] = 1
        if mode in ("rag/dense", "rag/bm25"):
            kw["retrieval"] = mode.split("/")[1]
        if mode == "rag/whole":
            kw["reader"] = "plain"
        if mode == "rag/focus":
            kw["reader"] = "focus"
        if head == "base":
            return self.pipe.ask(question, mode="base", examples=examples)
        if mode == "rag/plain":
            plain = self.s.model_copy(update={"prompts": self.s.prompts.model_copy(update={"system": PLAIN_SYSTEM})})
            return Pipeline(plain, log=False).ask(question, mode="rag", kb=kb, reader="plain")
        if head == "rag":
            return self.pipe.ask(question, mode="rag", kb=kb, examples=examples, **kw)
        if head == "ft":
            return self.pipe.ask(question, mode="ft", model=trained["ft"]["name"])
        if head == "ft+rag":
            return self.pipe.ask(question, mode="ft+rag", model=trained["ft"]["name"], kb=kb, **kw)
        if head == "raft":
            return self.pipe.ask(question, mode="raft", model=trained["raft"]["name"], kb=kb)
        raise ValueError(mode)

    def few_shot(self) -> list[tuple[str, str]]:
        """Demonstrations for rag/few-shot: training questions with their own passage."""
        p = self.s.prompts
        out = []
        for q in self.split.train:
            d = self.split.doc(q.doc_id) if q.doc_id else None
            if d is None:
                continue
            from ragtune.types import Chunk

            hit = Hit(Chunk("demo", d.id, d.id, d.text), 1.0)
            user = rag_messages(q.question, [hit], p)[-1]["content"]
            out.append((user, f"{_first(q)} [1]"))
            if len(out) >= self.exp.sizes.demonstrations:
                break
        return out

    def mode_fp(self, mode: str, trained: dict[str, Any]) -> str:
        head = mode.split("/")[0]
        parts: list[Any] = [mode, self.s.prompts.model_dump(), self.s.generation.model_dump(),
                            self.s.retrieval.model_dump(), self.s.models.generator,
                            self.ws.stage_fp("kb-docs"), self.s.reader.model_dump(), self.s.citations.model_dump()]
        if head in ("ft", "ft+rag"):
            parts.append(trained["ft"]["fingerprint"])
        if head == "raft":
            parts.append(trained["raft"]["fingerprint"])
        if mode == "rag/few-shot":
            parts.append(self.exp.sizes.demonstrations)
        if mode == "rag/plain":
            parts.append(PLAIN_SYSTEM)
        return fingerprint(*parts)

    def answer_all(self, mode: str, test: list[Question], trained: dict[str, Any]) -> dict[str, ItemRecord]:
        fp = self.mode_fp(mode, trained)
        cached = self.ws.cached_answers(mode, fp)
        examples = self.few_shot() if mode == "rag/few-shot" else None
        out: dict[str, ItemRecord] = {}
        with self.mem.watch() as mem, progress(self.show) as bar:
            task = bar.add_task(f"answering {mode}", total=len(test))
            for q in test:
                if q.id in cached:
                    out[q.id] = ItemRecord.from_dict(cached[q.id])
                else:
                    a = self._ask(mode, q.question, trained, examples=examples)
                    rec = ItemRecord.from_answer(a, q.id, q.answers, gold_ids=[_safe(q.doc_id)] if q.doc_id else [],
                                                 extra={"kb_version": a.kb_version, "abstained": a.abstained,
                                                        "decode_tok_s": a.timings.get("decode_tok_s")})
                    rec.mode = mode
                    self.ws.save_answer(mode, fp, q.id, rec.to_dict())
                    out[q.id] = rec
                bar.advance(task)
        self.res.set_costs(mode, peak_memory_mb=round(mem.peak_mb, 1))
        return out

    # ---- scoring -------------------------------------------------------------------------------
    def score(self, answers: dict[str, dict[str, ItemRecord]], test: list[Question]) -> None:
        emb = open_kb(self.s, "docs").embedder
        closed = {"rag": "base", "rag/top1": "base", "rag/few-shot": "base", "rag/plain": "base", "rag/whole": "base",
                  "rag/focus": "base",
                  "rag/dense": "base",
                  "rag/bm25": "base", "ft+rag": "ft"}
        for mode, recs in answers.items():
            preds = [M.strip_citations(recs[q.id].prediction) for q in test]
            pvecs = emb.encode(preds)
            for i, q in enumerate(test):
                rec = recs[q.id]
                gvecs = emb.encode(q.answers)
                ctx = [r.text for r in rec.retrieved]
                cited = [c.text for c in rec.citations if c.cited]
                ref_mode = closed.get(mode)
                without = answers[ref_mode][q.id].prediction if ref_mode in answers else None
                rec.scores = M.qa_scores(rec.prediction, q.answers, context_texts=ctx or None,
                                         cited_texts=cited if ctx else None,
                                         answer_without_context=without if ctx else None,
                                         pred_vec=pvecs[i], gold_vecs=gvecs, sentences=rec.sentences)
                self.res.add_item(rec)

    def costs(self, kb_info: dict[str, Any], trained: dict[str, Any], modes: list[str]) -> None:
        spec = resolve(self.s.models.generator, self.s)
        base_bytes = Path(spec.path).stat().st_size if spec.path and Path(spec.path).is_file() else None
        merged = _merged_bytes(spec)
        for m in modes:
            head = m.split("/")[0]
            c: dict[str, Any] = {"base_model_bytes": base_bytes, "setup_s": 0.0, "setup_detail": {}}
            if head in ("rag", "ft+rag", "raft"):
                c["index_bytes"] = kb_info["index_bytes"]
                c["setup_s"] += kb_info["setup_s"]
                c["setup_detail"]["ingest_s"] = kb_info["setup_s"]
            tr = trained.get("ft" if head in ("ft", "ft+rag") else "raft" if head == "raft" else "")
            if tr:
                c["adapter_bytes"] = tr["adapter_bytes"]
                c["merged_bytes"] = merged
                c["setup_s"] += tr["setup_s"]
                c["setup_detail"]["train_s"] = tr["setup_s"]
            self.res.set_costs(m, **c)

    # ---- freshness -----------------------------------------------------------------------------
    def freshness(self, ups: list[Update]) -> None:
        """Build on the old facts, update to the new ones, measure who keeps up and at what cost."""
        if not ups:
            return
        exp = self.exp
        folder = self.ws.root / "fresh_docs"
        old_docs = [Doc(u.id, "", u.old_context) for u in ups]
        kb_name = "fresh"
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
        trained = {}
        if want_ft:
            trained["ft"] = self.train_ft("fresh-old", old_docs, qs, {u.id: u.old_answer for u in ups})
        modes = ["base", "rag"] + (["ft", "ft+rag"] if want_ft else [])
        before = {m: self._fresh_answers(m, ups, trained, kb_name, f"before-{fp_old}") for m in modes}
        # The update: new contexts replace the old ones, in place.
        write_docs(folder, [Doc(u.id, "", u.new_context) for u in ups])
        t0 = time.perf_counter()
        rep = open_kb(self.s, kb_name).ingest([folder], show_progress=self.show)
        update_s = time.perf_counter() - t0
        after = {m: (before[m] if m in ("base", "ft") else
                     self._fresh_answers(m, ups, trained, kb_name, f"after-{fp_old}")) for m in modes}
        retrain_s = None
        after_retrain: dict[str, list[str]] = {}
        if want_ft and exp.train.retrain_for_freshness:
            new_docs = [Doc(u.id, "", u.new_context) for u in ups]
            t0 = time.perf_counter()
            rec = self.train_ft("fresh-new", new_docs, qs, {u.id: u.new_answer for u in ups})
            retrain_s = rec["setup_s"] if rec.get("setup_s") else time.perf_counter() - t0
            tr2 = {"ft": rec}
            for m in ("ft", "ft+rag"):
                after_retrain[m] = self._fresh_answers(m, ups, tr2, kb_name, f"retrain-{fp_old}")
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
        self.notes.append(f"freshness: {len(ups)} facts updated; the knowledge-base update re-embedded "
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
                    a = self._ask(mode, u.question, trained, kb=kb, top_k=self.exp.sizes.freshness_top_k)
                    self.ws.save_answer(cache_mode, fp, u.id, {"prediction": a.text, "question": u.question})
                    out.append(a.text)
                bar.advance(task)
        return out


def _first(q: Question) -> str:
    return q.answers[0]


def _merged_bytes(spec) -> int | None:
    """A merged model is a full float copy of the base: the size of the dequantised folder."""
    try:
        from ragtune.train.model_io import hf_cache_dir

        d = hf_cache_dir(spec)
        return dir_size(d) if d.exists() else None
    except Exception:  # the train extra may be missing; the size is then unknown
        return None
