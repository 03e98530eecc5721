"""llama.cpp through llama-cpp-python: the default engine for GGUF models.

A LoRA adapter in GGUF form (``ragtune train ... --export gguf``) loads on top of the
quantised base with ``lora_path``, so a fine-tuned model answers at llama.cpp speed.

``GenParams.choices`` decodes under a grammar that allows exactly one of the choices
(``LlamaGrammar``), so a classifier prompt answers with a label and nothing else. The thread
count follows the machine's load (``ragtune.threads.ThreadPolicy``) and is in each timing.

Contexts: an engine starts with one llama.cpp context, so its generations take turns.
``use_contexts(n)`` (what ``serve.parallel`` sets) gives it ``n``: each generation takes a free
context, waits only when all ``n`` are busy, and a short answer no longer queues behind a long
one. The thread budget (the policy's count) is shared between the generations decoding at that
moment in this process, in any llama.cpp engine (the base model and a reader adapter are two
engines): each uses ``budget // decoding`` threads (at least one), re-balanced between tokens,
so a lone generation still uses every thread and two do not fight over the same cores. More
generations than threads oversubscribe the cores (each keeps at least one thread).

Each context is its own ``Llama``: llama-cpp-python binds a context to the model and the LoRA
adapter it loaded itself, with no public way to hand one loaded model to a second ``Llama``. So
without an adapter the weights are memory-mapped from the same file (the page cache holds them
once); with an adapter llama-cpp-python loads the weights into memory and the adapter is loaded
once per context (the 135M bundled model: about 100 MB each). Each context has its own KV cache.

Prompt cache: each context saves the KV state of prompt prefixes it meets again (the system prompt,
a conversation's earlier turns) and reads only the rest of a prompt after one (``prompt_cache.py``;
the answers are those of an empty cache, to the bit). ``Generation.cached_tokens`` counts the tokens
restored, and ``prompt_ms`` covers restoring them and reading the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ragtune.config import GenerationSettings
from ragtune.errors import ConfigError, EngineError, missing_extra
from ragtune.generate.base import Generation, GenParams, Message, check_choices, choice_grammar, last_generation
from ragtune.generate.prompt_cache import PrefixCache
from ragtune.generate.registry import register_engine
from ragtune.registry import ModelSpec
from ragtune.threads import ThreadPolicy


class _Decoding:
    """How many llama.cpp generations of this process are decoding now (they share the thread budget)."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def add(self, k: int) -> None:
        with self._lock:
            self.n += k


DECODING = _Decoding()


@dataclass(eq=False)
class _Context:
    """One loaded llama.cpp context and the thread count last applied to it."""

    index: int
    llm: Any  # llama_cpp.Llama
    threads: int
    prefixes: PrefixCache = field(default_factory=PrefixCache)


@register_engine("llama.cpp", auto_for=("gguf",))
class LlamaCppEngine:
    name = "llama.cpp"

    def __init__(self, spec: ModelSpec, settings: GenerationSettings, adapter: str | None = None):
        if spec.kind != "gguf":
            raise ConfigError(f"generation.engine=llama.cpp needs a .gguf model, not {spec.kind} {spec.name!r}")
        try:
            # the [llama] extra: pip install 'ragtune[llama]'
            from llama_cpp import Llama, LlamaGrammar, llama_set_n_threads
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as e:
            raise missing_extra("llama-cpp-python", "llama") from e
        self.spec = spec
        self.adapter = adapter
        self.settings = settings
        self.policy = ThreadPolicy(settings.threads)
        self.threads = self.policy.n  # the budget: what the policy allows all contexts together
        self._llama_class, self._grammar_class, self._set_threads = Llama, LlamaGrammar, llama_set_n_threads
        self._grammars: dict[object, object] = {}
        self.llm = self._load()  # the first context; it also tokenizes and holds the metadata
        meta = self.llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise EngineError(f"{spec.path} has no chat template in its metadata; use an instruct model")
        vocab = self.llm._model
        eos = vocab.token_get_text(self.llm.token_eos()) if hasattr(vocab, "token_get_text") else ""
        bos = vocab.token_get_text(self.llm.token_bos()) if hasattr(vocab, "token_get_text") else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        # the BOS token llama-cpp-python puts before a prompt, where the model adds one
        self._bos = [self.llm.token_bos()] if self.llm._model.add_bos_token() and self.llm.token_bos() >= 0 else []
        self.n_ctx = settings.n_ctx
        self.parallel = 1  # contexts handed out at once (use_contexts)
        self._contexts = [_Context(0, self.llm, self.threads)]
        self._free = list(self._contexts)
        self._cond = threading.Condition()
        self._grow_lock = threading.Lock()

    def _load(self):
        try:
            return self._llama_class(
                model_path=self.spec.path, n_ctx=self.settings.n_ctx, n_threads=self.threads,
                n_threads_batch=self.threads, lora_path=self.adapter, seed=self.settings.seed, verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            what = f"adapter {self.adapter}" if self.adapter else f"model {self.spec.path}"
            raise EngineError(f"llama.cpp could not load {what}: {e}; check the file is a valid GGUF") from e

    def use_contexts(self, n: int) -> None:
        """Let ``n`` generations decode at once, each in its own context (loaded now if missing).

        Loaded contexts stay loaded; a lower ``n`` only hands out fewer of them.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"the number of llama.cpp contexts must be at least 1, not {n!r}; set serve.parallel")
        with self._grow_lock:
            while len(self._contexts) < n:
                ctx = _Context(len(self._contexts), self._load(), self.threads)
                with self._cond:
                    self._contexts.append(ctx)
                    self._free.append(ctx)
            with self._cond:
                self.parallel = n
                self._cond.notify_all()

    @property
    def contexts(self) -> int:
        """How many contexts are loaded (``parallel`` of them are handed out)."""
        return len(self._contexts)

    def _acquire(self) -> _Context:
        """The free context with the lowest number among the first ``parallel``; waits while none is."""
        with self._cond:
            while True:
                usable = [c for c in self._free if c.index < self.parallel]
                if usable:
                    ctx = min(usable, key=lambda c: c.index)
                    self._free.remove(ctx)
                    DECODING.add(1)
                    return ctx
                self._cond.wait()

    def _release(self, ctx: _Context) -> None:
        with self._cond:
            self._free.append(ctx)
            DECODING.add(-1)
            self._cond.notify_all()

    def _share(self, ctx: _Context, budget: int) -> int:
        """Apply this context's share of the thread budget (budget // generations decoding now)."""
        n = max(1, budget // max(1, DECODING.n))
        if n != ctx.threads:
            self._set_threads(ctx.llm.ctx, n, n)
            ctx.threads = n
        return n

    def render(self, messages: list[Message]) -> str:
        return self._formatter(messages=messages).prompt

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def _tokens(self, prompt: str) -> list[int]:
        """The prompt's tokens as llama-cpp-python feeds them (BOS first where the model adds one)."""
        return self._bos + self.llm.tokenize(prompt.encode(), add_bos=False, special=True)

    def _fit(self, messages: list[Message], params: GenParams) -> tuple[list[int], int]:
        """The prompt's tokens and how many of the oldest turns were dropped to fit ``n_ctx``.

        Only with ``params.trim_history``: system messages and the last message always stay.
        """
        dropped = 0
        msgs = list(messages)
        tokens = self._tokens(self.render(msgs))
        while params.trim_history and self._n_prompt(tokens) + params.max_tokens > self.n_ctx:
            i = next((j for j, m in enumerate(msgs[:-1]) if m.get("role") != "system"), None)
            if i is None:
                break
            del msgs[i]
            dropped += 1
            tokens = self._tokens(self.render(msgs))
        return self._check_fits(tokens, params), dropped

    def _n_prompt(self, tokens: list[int]) -> int:
        """The prompt's length as reported: its tokens without the BOS llama-cpp-python adds."""
        return len(tokens) - len(self._bos)

    def _check_fits(self, tokens: list[int], params: GenParams) -> list[int]:
        """``tokens`` (``_tokens``), or an error where they and ``max_tokens`` exceed ``n_ctx``."""
        n = self._n_prompt(tokens)
        if n + params.max_tokens > self.n_ctx:
            raise EngineError(
                f"the prompt is {n} tokens and max_tokens {params.max_tokens}: more than n_ctx {self.n_ctx}; "
                "lower retrieval.top_k or chunking.max_tokens, or raise generation.n_ctx"
            )
        return tokens

    def _kwargs(self, params: GenParams) -> dict:
        kw = dict(max_tokens=params.max_tokens, temperature=params.temperature, top_p=params.top_p,
                  top_k=0 if params.temperature > 0 else 1, min_p=0.0, repeat_penalty=1.0,
                  presence_penalty=params.presence_penalty, frequency_penalty=params.frequency_penalty,
                  seed=params.seed, stop=params.stop or None)
        if params.json_schema is not None:
            key = json.dumps(params.json_schema, sort_keys=True)
            if key not in self._grammars:
                try:
                    self._grammars[key] = self._grammar_class.from_json_schema(key, verbose=False)
                except (ValueError, RuntimeError, KeyError, TypeError) as e:
                    raise EngineError(f"llama.cpp cannot build a grammar from this JSON schema: {e}") from e
            kw["grammar"] = self._grammars[key]
        if params.choices:
            key = tuple(params.choices)
            if key not in self._grammars:
                self._grammars[key] = self._grammar_class.from_string(choice_grammar(params.choices), verbose=False)
            kw["grammar"] = self._grammars[key]
        return kw

    @staticmethod
    def _room_for_choices(params: GenParams) -> GenParams:
        """With choices, room for the longest one whatever its tokens (a token is at least one byte)."""
        if not params.choices:
            return params
        choices = check_choices(params.choices)
        longest = max(len(c.encode()) for c in choices) + 1  # + the end of the turn
        return replace(params, choices=choices, max_tokens=max(params.max_tokens, longest))

    def _budget(self) -> int:
        """The policy's current count: the threads all contexts share (re-chosen between generations)."""
        self.threads = self.policy.current()
        return self.threads

    def generate(self, messages: list[Message], params: GenParams) -> Generation:
        return last_generation(self.stream(messages, params))

    def stream(self, messages: list[Message], params: GenParams) -> Iterator[str | Generation]:
        params = self._room_for_choices(params)
        tokens, dropped = self._fit(messages, params)
        yield from self._run(tokens, dropped, params)

    def complete(self, prompt: str, params: GenParams) -> Generation:
        """A raw prompt, no chat template (``/v1/completions``)."""
        return last_generation(self._run(self._check_fits(self._tokens(prompt), params), 0, params))

    def _run(self, tokens: list[int], dropped: int, params: GenParams) -> Iterator[str | Generation]:
        kwargs = self._kwargs(params)
        ctx = self._acquire()
        try:
            budget = self._budget()
            threads = self._share(ctx, budget)
            t0 = time.perf_counter()
            cached = ctx.prefixes.prepare(ctx.llm, tokens)
            first = None
            pieces: list[str] = []
            finish = "stop"
            chunks = ctx.llm.create_completion(tokens, stream=True, **kwargs)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    if first is None:
                        first = time.perf_counter()
                    if choice.get("text"):
                        pieces.append(choice["text"])
                        yield choice["text"]
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    self._share(ctx, budget)  # another generation started or ended: re-balance the threads
            finally:
                chunks.close()
            t1 = time.perf_counter()
        finally:
            self._release(ctx)
        text = "".join(pieces)
        n_out = self.count_tokens(text) if text else 0
        first = first or t1
        decode_s = max(t1 - first, 1e-9)
        yield Generation(
            text=text.strip(), prompt_tokens=self._n_prompt(tokens), completion_tokens=n_out,
            finish_reason=finish, cached_tokens=cached,
            timings={"prompt_ms": (first - t0) * 1e3, "decode_ms": decode_s * 1e3, "total_ms": (t1 - t0) * 1e3,
                     "decode_tok_s": (n_out - 1) / decode_s if n_out > 1 else 0.0, "threads": float(threads),
                     "context": float(ctx.index), "trimmed_messages": float(dropped)},
        )
