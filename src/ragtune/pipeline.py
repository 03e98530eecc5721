"""Answering questions: retrieve (or not), build the prompt, generate, cite.

Modes, all with the same base model so they compare fairly:

- ``base``: closed-book, the model alone;
- ``rag``: retrieved chunks in the prompt, answer cites them;
- ``ft``: a fine-tuned model (adapter) closed-book;
- ``ft+rag`` / ``raft``: a fine-tuned model (RAFT-trained for ``raft``) with retrieval.

Conversations (the server's ``/v1/chat/completions`` and ``ragtune ask --chat``) go through
``search_query`` (a follow-up's standalone rewrite, what a retrieval mode searches for) and
``chat_stream`` (the earlier turns as chat turns, the last user turn answered); the parsing and
the rewrite prompt live in ``ragtune.generate.conversation``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ragtune.config import Settings
from ragtune.errors import ConfigError, ModelNotFoundError
from ragtune.generate.base import Engine, Generation, GenParams, get_engine
from ragtune.generate.citations import attribute
from ragtune.generate.conversation import Conversation, standalone_question
from ragtune.generate.prompts import base_messages
from ragtune.generate.reader import READERS, clean_answer, reader_messages, with_record
from ragtune.generate.reader_adapter import ReaderAdapter, adapter_setting, choose_reader_adapter
from ragtune.generate.registry import auto_engine
from ragtune.kb import open_kb
from ragtune.names import NAME_RE
from ragtune.registry import ModelSpec, resolve
from ragtune.runlog import RunLog
from ragtune.store import Filters
from ragtune.train.artifacts import INFO_FILE, load_model_info, model_dir
from ragtune.types import Answer

MODES = ("base", "rag", "ft", "ft+rag", "raft")
RETRIEVAL_MODES = {"rag", "ft+rag", "raft"}
TUNED_MODES = {"ft", "ft+rag", "raft"}


def find_trained(settings: Settings, name: str) -> dict | None:
    """The record of a model trained with ``ragtune train``, or None if ``name`` is not one."""
    if not NAME_RE.match(name) or not (model_dir(settings, name) / INFO_FILE).exists():
        return None
    info = load_model_info(settings, name)
    ex = info.exports
    adapter = info.adapter_dir
    return {"base_model": info.base_model.get("name"), "base_path": info.base_model.get("path"),
            "adapter_dir": str(adapter) if adapter else None,
            "gguf_adapter": ex.get("gguf-adapter") or ex.get("gguf_adapter") or ex.get("gguf"),
            "merged_dir": ex.get("merged") or (str(info.folder / "model") if info.weights == "full" else None),
            "task": info.task, "info": info}


@dataclass
class Generator:
    """A base model plus, optionally, a trained adapter, resolved to files."""

    spec: ModelSpec
    adapter: str | None = None
    label: str = ""
    # A RAFT model's training prompt (``{"method": "plain"}`` or the focus reader's settings); it reads that one.
    reader: dict | None = None


def resolve_generator(settings: Settings, model: str | None, need_tuned: bool = False) -> Generator:
    """A registry model name, or the name of a model trained with ``ragtune train``."""
    name = model or settings.models.generator
    trained = find_trained(settings, name)
    if trained is not None:
        try:
            base = resolve(trained["base_model"], settings)
        except ModelNotFoundError:
            base = resolve(trained["base_path"], settings)
        engine = settings.generation.engine
        if engine == "auto":
            engine = "llama.cpp" if base.kind == "gguf" else "transformers"
        adapter = trained.get("gguf_adapter") if engine == "llama.cpp" else trained.get("adapter_dir")
        if trained["task"] != "generate":
            raise ModelNotFoundError(f"{name!r} is a classifier; use: ragtune classify --model {name} TEXT")
        reader = trained["info"].extra.get("raft", {}).get("reader")
        if trained.get("merged_dir") and engine == "transformers" and not adapter:
            return Generator(resolve(trained["merged_dir"], settings), None, name, reader)
        if not adapter:
            raise ModelNotFoundError(
                f"trained model {name!r} has no {'GGUF adapter' if engine == 'llama.cpp' else 'adapter'} for the "
                f"{engine} engine; export it: ragtune models export {name} --gguf"
            )
        return Generator(base, adapter, name, reader)
    if need_tuned:
        raise ModelNotFoundError(f"{name!r} is not a trained model; train one (ragtune train sft ...) "
                                 "or see: ragtune models list")
    spec = resolve(name, settings)
    return Generator(spec, None, spec.name)


class Pipeline:
    """The Python API behind ``ragtune ask``; one per settings object, engines and KBs cached.

    ``contexts``: how many generations an engine that supports it (llama.cpp) decodes at once,
    each in its own context; the server sets it from ``serve.parallel``. 1 (the CLI): one at a time.
    """

    def __init__(self, settings: Settings, log: bool = True, contexts: int = 1):
        self.settings = settings
        self.log = log
        self.contexts = contexts

    def engine(self, gen: Generator) -> Engine:
        eng = get_engine(gen.spec, self.settings.generation, gen.adapter)
        use_contexts = getattr(eng, "use_contexts", None)  # llama.cpp only; others take requests as they come
        if use_contexts is not None:
            use_contexts(self.contexts)
        return eng

    def search_query(self, conversation: Conversation, mode: str, rewrite: str | None = None) -> str | None:
        """What a retrieval mode searches for to answer the conversation's last user turn (None: no retrieval).

        ``rewrite`` (default ``serve.query_rewrite``): ``generate`` has the generator rewrite a
        follow-up into a standalone question (``generate/conversation.py``); ``none`` searches
        with the last turn as asked. A first question is searched as asked either way.
        """
        if mode not in RETRIEVAL_MODES:
            return None
        rewrite = rewrite or self.settings.serve.query_rewrite
        if rewrite == "none" or not conversation.turns:
            return conversation.question
        if rewrite != "generate":
            raise ConfigError(f"query rewrite {rewrite!r} is not allowed; use generate or none")
        engine = self.engine(resolve_generator(self.settings, None))
        return standalone_question(engine, conversation.turns, conversation.question)

    def chat_stream(self, conversation: Conversation, search_query: str | None = None,
                    **kw) -> Iterator[str | Answer]:
        """``ask_stream`` for a conversation: the earlier turns as chat turns, its last user turn answered.

        ``search_query`` is what to retrieve with (``search_query()``; None: the last turn as asked).
        """
        return self.ask_stream(conversation.prompt_question(), examples=conversation.examples(),
                               search_query=search_query, **kw)

    def reader_adapter(self, gen: Generator, setting: str | None = None,
                       reader: str | None = None) -> ReaderAdapter | None:
        """The reader adapter ``rag`` answers with for this generator (see generate/reader_adapter.py); none
        when a reader other than plain is asked for by name and no adapter is (``adapter_setting``)."""
        kind = self.settings.generation.engine
        if kind == "auto":
            kind = auto_engine(gen.spec.kind) or ""
        return choose_reader_adapter(adapter_setting(self.settings.reader.adapter, reader, setting), gen.spec, kind)

    def ask_stream(self, question: str, mode: str = "rag", kb: str | None = None, model: str | None = None,
                   top_k: int | None = None, retrieval: str | None = None, where: str | None = None,
                   as_of: int | None = None, max_tokens: int | None = None, filters: Filters | None = None,
                   examples: list[tuple[str, str]] | None = None,
                   reader: str | None = None, reader_adapter: str | None = None,
                   focus_sentences: int | None = None,
                   search_query: str | None = None, sampling: dict | None = None) -> Iterator[str | Answer]:
        """Yield answer text as it is generated, then the finished ``Answer``.

        ``reader`` (``plain`` | ``focus``) overrides ``[reader] method``; ``raft`` models always
        read the prompt they were trained on (plain, or ``train raft --reader focus``), and ``rag`` reads
        the prompt of its reader adapter while one answers (``reader_adapter`` overrides ``[reader]
        adapter``: auto | none | a GGUF file); a reader other than plain asked for by name answers
        without the adapter unless one is asked too. ``focus_sentences`` overrides ``[reader]
        focus_sentences`` for the focus reader (not for an adapter or a RAFT model: they read the
        prompt they were trained on).
        ``search_query`` retrieves with other text than the question (a conversation's standalone
        question); ``sampling`` overrides ``GenParams`` fields for this answer (the API's sampling).
        """
        if mode not in MODES:
            raise ConfigError(f"mode {mode!r} is not allowed; use one of {', '.join(MODES)}")
        if not question.strip():
            raise ConfigError("the question is empty; ask something")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ConfigError(f"top_k must be at least 1 (got {top_k!r}); pass --top-k 1 or more")
        if mode in RETRIEVAL_MODES and not kb:
            raise ConfigError(f"mode {mode} needs a knowledge base: add --kb NAME")
        if mode in TUNED_MODES and not model:
            raise ConfigError(f"mode {mode} needs a trained model: add --model NAME (see: ragtune models list)")
        if reader is not None and reader not in READERS:
            raise ConfigError(f"reader {reader!r} is not allowed; use one of {', '.join(READERS)}")
        if focus_sentences is not None and (isinstance(focus_sentences, bool) or not isinstance(focus_sentences, int)
                                            or focus_sentences < 1):
            raise ConfigError(f"focus_sentences must be at least 1 (got {focus_sentences!r})")
        t0 = time.perf_counter()
        gen = resolve_generator(self.settings, model, need_tuned=mode in TUNED_MODES)
        ra = self.reader_adapter(gen, reader_adapter, reader) if mode == "rag" else None
        if ra is not None:
            gen = Generator(gen.spec, str(ra.path), gen.label)
        p = self.settings.prompts
        hits = []
        kb_obj = open_kb(self.settings, kb) if mode in RETRIEVAL_MODES else None
        timings: dict[str, float] = {}
        method = ""
        if kb_obj is not None:
            kb_obj.embedder.model  # noqa: B018 (load it now, so loading is not counted as retrieval)
            timings["load_ms"] = (time.perf_counter() - t0) * 1e3
            hits = kb_obj.search(search_query or question, k=top_k, mode=retrieval, filters=filters, where=where,
                                 as_of=as_of)
            timings.update(kb_obj.retriever.last_timings)
            rs = self.settings.reader
            if ra is not None:  # a reader adapter reads the prompt it was trained on, unless told how many sentences
                rs = with_record(rs, {"method": ra.method, "focus_sentences": focus_sentences or ra.focus_sentences})
                method = rs.method
            elif mode == "raft":  # ... and so does a RAFT model (models trained before it was recorded: plain)
                rs = with_record(rs, gen.reader)
                method = rs.method
            else:
                method = reader or rs.method
                if focus_sentences is not None:
                    rs = rs.model_copy(update={"focus_sentences": focus_sentences})
            messages = reader_messages(question, hits, p, rs, examples, method=method, embed=kb_obj.embedder.encode)
        else:
            messages = base_messages(question, p, examples)
        answer = Answer(text="", mode=mode, question=question, model=gen.spec.name, adapter=gen.adapter,
                        kb=kb, kb_version=(as_of if as_of is not None else kb_obj.version()) if kb_obj else None,
                        hits=hits, reader=f"adapter:{ra.name}" if ra else method)
        best = max((h.similarity or 0.0 for h in hits), default=None)
        if kb_obj is not None and (not hits or best < self.settings.retrieval.min_similarity):
            answer.text, answer.abstained = p.no_answer, True
            answer.prompt = ""
            yield answer.text
        else:
            t_load = time.perf_counter()
            engine = self.engine(gen)
            timings["load_ms"] = timings.get("load_ms", 0.0) + (time.perf_counter() - t_load) * 1e3
            answer.prompt = engine.render(messages)
            params = GenParams.from_settings(self.settings.generation, max_tokens=max_tokens, **(sampling or {}))
            final: Generation | None = None
            for piece in engine.stream(messages, params):
                if isinstance(piece, Generation):
                    final = piece
                else:
                    yield piece
            assert final is not None
            answer.raw_text = final.text
            cleanup = kb_obj is not None and self.settings.reader.clean
            answer.text = clean_answer(final.text) if cleanup else final.text
            answer.usage = {"prompt_tokens": final.prompt_tokens, "completion_tokens": final.completion_tokens,
                            "cached_tokens": final.cached_tokens}
            gen_t = dict(final.timings)
            gen_t["generate_ms"] = gen_t.pop("total_ms", 0.0)
            timings.update(gen_t)
            if kb_obj is not None:
                t_cite = time.perf_counter()
                cfg = self.settings.citations
                embed = kb_obj.embedder.encode if cfg.use_embedder else None
                answer.citations, answer.sentences = attribute(answer.text, hits, cfg, embed, p.no_answer,
                                                               question=question)
                timings["cite_ms"] = (time.perf_counter() - t_cite) * 1e3
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        answer.timings = timings
        if self.log:
            with RunLog(self.settings.data_dir).run("ask", {"mode": mode, "kb": kb, "model": gen.label,
                                                            "question": question, "top_k": top_k,
                                                            "retrieval": retrieval or self.settings.retrieval.mode,
                                                            "generation": self.settings.generation.model_dump()},
                                                    name=kb or gen.label) as run:
                run.update(answer.to_dict())
        yield answer

    def ask(self, question: str, on_token: Callable[[str], None] | None = None, **kw) -> Answer:
        out = None
        for piece in self.ask_stream(question, **kw):
            if isinstance(piece, Answer):
                out = piece
            elif on_token:
                on_token(piece)
        assert out is not None
        return out
