"""Text classification (the sentiment example): prompting, retrieved demonstrations, a trained head.

- ``zero-shot``: the generator is told the labels and answers with one of them;
- ``rag``: the k most similar labelled training texts, retrieved from a knowledge base of the
  training set, are given as worked examples before the text (in-context kNN);
- ``ft``: a classifier trained on the training set (a head on the LLM with LoRA; the variant
  ``ft/embedder`` puts a linear head on the embedder instead).

The two prompting modes answer under ``GenParams.choices`` = the label set (a grammar in
llama.cpp, label likelihoods in transformers, the server's guided choice over HTTP). An answer
that still is not a label (an endpoint that ignores the constraint) is ``(invalid)``, and each
prompting mode reports ``invalid_share``, the share of such answers, with its interval.

With ``[learning_curve]`` on, the trained heads are trained again on nested shares of the
labelled texts and scored on the same test texts (``learning_curve.ClassifierCurve``).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.evaluate.costs import record_stages
from ragtune.evaluate.datasets import Labeled, honour, load_labeled
from ragtune.evaluate.experiment import ExperimentConfig
from ragtune.evaluate.learning_curve import ClassifierCurve
from ragtune.evaluate.results import ComparisonResults, Estimate, ItemRecord, RetrievedChunk
from ragtune.evaluate.training import train_classifier
from ragtune.evaluate.workspace import PeakMemory, Workspace, fingerprint
from ragtune.generate.base import GenParams, get_engine
from ragtune.kb import KnowledgeBase, dir_size, list_kbs, open_kb
from ragtune.modeling import load_tokenizer
from ragtune.pipeline import find_trained
from ragtune.progress import progress
from ragtune.registry import resolve
from ragtune.train.classifier import Classifier

INVALID = "(invalid)"
DESCRIPTIONS = {
    "zero-shot": "the generator, told the labels, answers with one of them",
    "rag": "the k most similar labelled training texts as worked examples (in-context kNN)",
    "ft": "classification head on the LLM, LoRA-trained on the training set",
    "ft/embedder": "linear head on the embedder's sentence vectors",
}


DECODING = "constrained to the labels"  # how the prompting modes answer; part of their answers' fingerprint


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".!").strip().casefold()


def answer_label(text: str, labels: list[str]) -> str:
    """The label an answer is (ignoring case, spacing and a final full stop); ``(invalid)`` otherwise.

    >>> answer_label("Great.", ["great", "other"]), answer_label("Great, other.", ["great", "other"])
    ('great', '(invalid)')
    """
    by_norm = {_norm(lab): lab for lab in labels}
    return by_norm.get(_norm(text), INVALID)


def truncate(text: str, tokenizer: Any, max_len: int) -> str:
    """``text`` cut to its first ``max_len`` tokens (unchanged when it fits)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_len:
        return text
    n = max_len
    cut = tokenizer.decode(ids[:n], skip_special_tokens=True)
    while n > 1 and len(tokenizer(cut, add_special_tokens=False)["input_ids"]) > max_len:
        n -= 1  # decoding and re-tokenising may merge differently: shorten until it fits
        cut = tokenizer.decode(ids[:n], skip_special_tokens=True)
    return cut


class ClassificationRunner:
    def __init__(self, exp: ExperimentConfig, settings: Settings, ws: Workspace, res: ComparisonResults,
                 show_progress: bool | None = None):
        self.exp, self.s, self.ws, self.res, self.show = exp, settings, ws, res, show_progress
        self.mem = PeakMemory()

    def run(self) -> None:
        exp = self.exp
        train = load_labeled(exp.path(exp.data.train), exp.sizes.train_examples, exp.seed, exp.data.text_field,
                             exp.data.label_field)
        test = load_labeled(exp.path(exp.data.test), exp.sizes.test_examples, exp.seed + 1, exp.data.text_field,
                            exp.data.label_field)
        asked = exp.required_sizes()
        for size, rows, n in (("train_examples", train, exp.sizes.train_examples),
                              ("test_examples", test, exp.sizes.test_examples)):
            if n:
                honour(size, n, len(rows), asked, self.res.notes, "labelled rows in the file")
        leaked = {t.text for t in train} & {t.text for t in test}
        test = [t for t in test if t.text not in leaked]
        self.labels = sorted({r.label for r in train})
        self.res.config["split"] = {"train_examples": len(train), "test_examples": len(test), "labels": self.labels}
        if leaked:
            self.res.notes.append(f"{len(leaked)} test texts also in the training file were dropped from the test set")
        for m in exp.all_modes():
            params = {"decoding": DECODING} if m in ("zero-shot", "rag") else {}
            self.res.add_mode(m, description=DESCRIPTIONS.get(m, ""), model=self.s.models.generator, params=params)
        spec = resolve(self.s.models.generator, self.s)
        base_bytes = Path(spec.path).stat().st_size if spec.path and Path(spec.path).is_file() else None
        for m in exp.all_modes():
            if m == "zero-shot":
                self.generate_mode(m, test, None)
                self.res.set_costs(m, setup_s=0.0, base_model_bytes=base_bytes)
            elif m == "rag":
                info = self.build_examples_kb(train)
                self.generate_mode(m, test, "examples")
                self.res.set_costs(m, setup_s=info["setup_s"], index_bytes=info["index_bytes"],
                                   base_model_bytes=base_bytes, setup_detail={"ingest_s": info["setup_s"]})
            else:
                method = "embedder" if m == "ft/embedder" else exp.train.classifier
                info = self.train(m, method, train)
                self.classifier_mode(m, test, info)
                self.res.set_costs(m, setup_s=info["setup_s"], adapter_bytes=info["bytes"],
                                   base_model_bytes=base_bytes if method == "llm" else None,
                                   setup_detail={"train_s": info["setup_s"]})
        self.res.learning_curve = ClassifierCurve(self).run(train, test)
        record_stages(self.res, self.ws.used)  # each stage's wall time, peak memory and tokens/s

    # ---- prompting modes --------------------------------------------------------------------
    def messages(self, text: str, demos: list[tuple[str, str]]) -> list[dict[str, str]]:
        p = self.s.prompts
        msgs = [{"role": "system", "content": p.classify_system.format(labels=", ".join(self.labels))}]
        for t, lab in demos:
            msgs += [{"role": "user", "content": p.classify_template.format(text=t)},
                     {"role": "assistant", "content": lab}]
        msgs.append({"role": "user", "content": p.classify_template.format(text=text)})
        return msgs

    def build_examples_kb(self, train: list[Labeled]) -> dict[str, Any]:
        fp = fingerprint([(r.id, r.text, r.label) for r in train], self.s.chunking.model_dump(), self.s.models.embedder)
        rec = self.ws.stage("kb-examples", fp)
        if rec and "examples" in list_kbs(self.s):
            return rec
        if "examples" in list_kbs(self.s):
            KnowledgeBase.delete(self.s, "examples")
        folder = self.ws.root / "examples_kb"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with (folder / "train.jsonl").open("w", encoding="utf-8") as f:
            for r in train:
                f.write(json.dumps({"id": r.id, "text": r.text, "label": r.label}, ensure_ascii=False) + "\n")
        t0 = time.perf_counter()
        kb = KnowledgeBase.create(self.s, "examples", "labelled training texts for in-context kNN")
        kb.ingest([folder], show_progress=self.show)
        return self.ws.finish("kb-examples", fp, {"setup_s": time.perf_counter() - t0,
                                                  "index_bytes": dir_size(kb.root)})

    def generate_mode(self, mode: str, test: list[Labeled], kb_name: str | None) -> None:
        spec = resolve(self.s.models.generator, self.s)
        engine = get_engine(spec, self.s.generation)
        params = GenParams.from_settings(self.s.generation, max_tokens=4, choices=self.labels)
        k = self.exp.sizes.demonstrations
        fp = fingerprint(mode, self.labels, self.s.prompts.classify_system, self.s.prompts.classify_template,
                         self.s.generation.model_dump(), k, self.ws.stage_fp("kb-examples") if kb_name else None,
                         DECODING)
        cached = self.ws.cached_answers(mode, fp)
        kb = open_kb(self.s, kb_name) if kb_name else None
        with self.mem.watch() as mem, progress(self.show) as bar:
            task = bar.add_task(f"classifying ({mode})", total=len(test))
            for t in test:
                if t.id not in cached:
                    t0 = time.perf_counter()
                    hits = kb.search(t.text, k=k, mode="dense") if kb and k else []  # 0: no demonstrations
                    demos = [(h.chunk.text, str(h.chunk.metadata.get("label", ""))) for h in reversed(hits)]
                    msgs = self.messages(t.text, demos)
                    g = engine.generate(msgs, params)
                    lat = (time.perf_counter() - t0) * 1e3
                    rec = ItemRecord(item_id=t.id, mode=mode, question=t.text, references=[t.label],
                                     prediction=answer_label(g.text, self.labels), prompt=engine.render(msgs),
                                     retrieved=[RetrievedChunk(h.chunk.chunk_id, h.chunk.text, h.score) for h in hits],
                                     latency_ms=lat, tokens={"prompt_tokens": g.prompt_tokens,
                                                             "completion_tokens": g.completion_tokens},
                                     extra={"raw": g.text, "decode_tok_s": g.timings.get("decode_tok_s"),
                                            "threads": g.timings.get("threads"),
                                            "label_logprobs": g.choice_logprobs or None})
                    cached[t.id] = rec.to_dict()
                    self.ws.save_answer(mode, fp, t.id, cached[t.id])
                self.res.add_item(ItemRecord.from_dict(cached[t.id]))
                bar.advance(task)
        self.res.set_costs(mode, peak_memory_mb=round(mem.peak_mb, 1))
        self.report_invalid(mode, [cached[t.id]["prediction"] == INVALID for t in test])
        if getattr(engine, "policy", None) is not None:
            self.res.config.setdefault("threads", {})[mode] = engine.policy.report()

    def report_invalid(self, mode: str, invalid: list[bool]) -> None:
        """``invalid_share`` of a prompting mode (with its interval), and a note when any answer was no label."""
        if not invalid:
            return
        self.res.set_metric(mode, "invalid_share", Estimate.of([float(x) for x in invalid], seed=self.exp.seed))
        if any(invalid):
            self.res.notes.append(f"{mode}: {sum(invalid)} of {len(invalid)} answers were not a label "
                                  f"({', '.join(self.labels)}) and count as wrong; the engine could not "
                                  "constrain them (an endpoint that ignores guided_choice/grammar?)")

    # ---- trained classifier -------------------------------------------------------------------
    def fit_lengths(self, train: list[Labeled], cfg: Any, note: bool = True) -> list[Labeled]:
        """Training texts cut to ``max_seq_len`` tokens, as Hugging Face pipelines truncate; counted in the notes."""
        tok = load_tokenizer(resolve(self.s.models.generator, self.s))
        out = [Labeled(r.id, truncate(r.text, tok, cfg.max_seq_len), r.label) for r in train]
        cut = sum(a.text != b.text for a, b in zip(out, train, strict=True))
        if cut and note:
            self.res.notes.append(f"ft: {cut} of {len(train)} training texts are longer than max_seq_len "
                                  f"{cfg.max_seq_len} tokens and were cut to fit (raise train.max_seq_len to keep "
                                  "more of them); the classifier reads test texts cut the same way")
        return out

    def train(self, mode: str, method: str, train: list[Labeled], name: str | None = None) -> dict[str, Any]:
        """The head ``method`` trained on ``train`` (a validation share split off it); its stage record.

        ``name`` gives it a model of its own (a learning-curve share); the main one is ``classifier-<method>``.
        """
        main = name is None
        name = name or f"classifier-{method}"
        cfg = self.exp.train.config("ft", self.exp.seed)
        if method == "llm":
            train = self.fit_lengths(train, cfg, note=main)
        fp = fingerprint(name, [(r.id, r.text, r.label) for r in train], cfg.model_dump(), self.s.models.generator,
                         self.s.models.embedder)
        rec = self.ws.stage(f"train-{name}", fp)
        if rec and find_trained(self.s, name):
            return rec
        tr, val = split_val(train, len(self.labels))
        with self.mem.watch() as mem:
            info = train_classifier(self.s, name, method, tr, val, cfg, self.ws.root / "train", self.show)
        return self.ws.finish(f"train-{name}", fp, {**info, "peak_mb": mem.peak_mb})

    def classifier_mode(self, mode: str, test: list[Labeled], info: dict[str, Any]) -> None:
        with self.mem.watch() as mem:
            records = self.predict(mode, mode, test, info)
        for t in test:
            self.res.add_item(ItemRecord.from_dict(records[t.id]))
        self.res.set_costs(mode, peak_memory_mb=round(mem.peak_mb, 1))

    def curve_labels(self, mode: str, subset: list[Labeled], test: list[Labeled], tag: str) -> dict[str, str]:
        """``mode``'s head trained on ``subset`` (one share of a learning curve): its label for each test text."""
        method = "embedder" if mode == "ft/embedder" else self.exp.train.classifier
        info = self.train(mode, method, subset, name=f"classifier-{method}-{tag}")
        records = self.predict(f"{tag}-{mode}", mode, test, info)
        return {t.id: str(records[t.id]["prediction"]) for t in test}

    def predict(self, cache: str, mode: str, test: list[Labeled], info: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The trained head's answer record for each test text, cached in the workspace under ``cache``."""
        clf = Classifier.load(info["path"], self.s)
        fp = fingerprint(mode, info["fingerprint"])
        cached = self.ws.cached_answers(cache, fp)
        with progress(self.show) as bar:
            task = bar.add_task(f"classifying ({cache})", total=len(test))
            for t in test:
                if t.id not in cached:
                    t0 = time.perf_counter()
                    proba = clf.predict_proba([t.text])[0]
                    lat = (time.perf_counter() - t0) * 1e3
                    pred = clf.labels[int(proba.argmax())]
                    rec = ItemRecord(item_id=t.id, mode=mode, question=t.text, references=[t.label], prediction=pred,
                                     latency_ms=lat, extra={"proba": dict(zip(clf.labels, map(float, proba),
                                                                              strict=True))})
                    cached[t.id] = rec.to_dict()
                    self.ws.save_answer(cache, fp, t.id, cached[t.id])
                bar.advance(task)
        return cached


def split_val(rows: list[Labeled], n_labels: int) -> tuple[list[Labeled], list[Labeled]]:
    """The training rows and the validation share split off their front (a tenth, at least two per label
    where the rows allow); a validation row whose label the training part lacks goes back to training.

    >>> rows = [Labeled("0", "t", "c")] + [Labeled(str(i), "t", "ab"[i % 2]) for i in range(1, 7)]
    >>> [[r.id for r in part] for part in split_val(rows, 3)]
    [['3', '4', '5', '6', '0'], ['1', '2']]
    """
    n_val = max(len(rows) // 10, min(n_labels * 2, len(rows) // 2))
    tr, val = rows[n_val:], rows[:n_val]
    known = {r.label for r in tr}
    return tr + [r for r in val if r.label not in known], [r for r in val if r.label in known]
