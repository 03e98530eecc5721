"""A prompt-prefix cache for one llama.cpp context that gives the same answers as no cache.

Every RAG prompt starts with the same system prompt and template head (about a third of a focus-reader
prompt's tokens), a classifier's prompts share their instructions, and each turn of a conversation
starts with the turns before it. Reading a shared prefix once and restoring its KV cache saves that
share of prompt reading, which is most of an answer's time on a CPU.

Reading a prompt in two parts gives the same logits as reading it whole, to the bit, with one
exception measured on the bundled model: a part of exactly one token (llama.cpp computes a batch of
one on another path) moves the logits by up to 0.57, enough to change a seeded sample ("Trace rivers"
against "Trace crimson"). llama-cpp-python's own prefix reuse (and llama.cpp's server
``cache_prompt``) reads the last token alone when the same prompt comes twice. Here a prefix is used
only where the reads after it have the same one-token parts as reading the prompt from an empty
cache (none, unless the prompt is one past a multiple of ``n_batch``), and a saved state holds exactly
the prefix (``llama_state_set_data`` clears the cache and writes the prefix's cells), so every answer
is the one an empty cache gives (tests/generate/test_prompt_cache.py, seeded samples included).

A prefix is saved when the prompt shares at least ``MIN_PREFIX`` more tokens with one of the
context's last ``MAX_STATES`` prompts than the longest prefix already saved (one of the last few, not
only the last: ``compare`` interleaves its modes, so one engine alternates between, say, the
closed-book and the RAG system prompt); the ``MAX_STATES`` most recently used states are kept (a state
holds only the prefix's cells: about 23 KB per token for the bundled model).
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict, deque
from typing import Any

MIN_PREFIX = 16  # tokens a new saved prefix must add
MAX_STATES = 4  # saved prefixes per context


class PrefixCache:
    """Saved KV states of prompt prefixes for one ``llama_cpp.Llama`` context."""

    def __init__(self) -> None:
        self._states: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._recent: deque[list[int]] = deque(maxlen=MAX_STATES)  # the last prompts, newest last

    def __len__(self) -> int:
        return len(self._states)

    def prepare(self, llm: Any, tokens: list[int]) -> int:
        """Set ``llm`` to hold the longest saved prefix of ``tokens`` (or nothing) and return its length.

        When ``tokens`` share enough more with one of the last prompts, that longer prefix is read now
        and saved for the prompts after this one.
        """
        n, nb = len(tokens), max(1, int(llm.n_batch))

        def same_parts(p: int) -> bool:  # reading tokens[p:] after p cached ones: one-token parts as from 0
            return p == 0 or ((n - p) % nb == 1) == (n % nb == 1)

        best = max((p for p in self._states if len(p) < n and same_parts(len(p)) and tuple(tokens[: len(p)]) == p),
                   key=len, default=())
        if best and not self._load(llm, best):
            best = ()
        if not best:
            llm.reset()
        shared = min(max((llm.longest_token_prefix(r, tokens) for r in self._recent), default=0), n - 1)
        self._recent.append(list(tokens))
        while shared > len(best) and (not same_parts(shared) or (shared - len(best)) % nb == 1):
            shared -= 1
        if shared - len(best) >= MIN_PREFIX:
            llm.eval(tokens[len(best): shared])
            self._save(llm, tuple(tokens[:shared]))
        return len(best)

    def _save(self, llm: Any, prefix: tuple[int, ...]) -> None:
        import llama_cpp

        size = llama_cpp.llama_state_get_size(llm.ctx)
        buf = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_get_data(llm.ctx, buf, size)
        self._states[prefix] = (ctypes.c_uint8 * n).from_buffer_copy(buf)  # only the bytes written
        while len(self._states) > MAX_STATES:
            self._states.popitem(last=False)

    def _load(self, llm: Any, prefix: tuple[int, ...]) -> bool:
        """Restore ``prefix``; False (and the state dropped) where llama.cpp refuses it: read it afresh."""
        import llama_cpp

        data = self._states[prefix]
        if llama_cpp.llama_state_set_data(llm.ctx, data, len(data)) != len(data):
            del self._states[prefix]
            return False
        self._states.move_to_end(prefix)
        llm.input_ids[: len(prefix)] = prefix
        llm.n_tokens = len(prefix)
        llm._requires_eval = True  # the logits are the prefix's: the rest of the prompt is read before sampling
        return True
