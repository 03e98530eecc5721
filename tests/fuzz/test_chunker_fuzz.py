"""Property tests of the chunker on random text: every chunk within the token budget, every
non-whitespace character of the text in some chunk and in the text's order, never an exception.

Counted with the bundled embedder's own tokenizer (the path ingest takes) and with a plain word
counter (the fallback for any ``str -> int``). Derandomized and bounded, for ``make test``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragtune.ingest import chunk_document, token_counter
from ragtune.ingest.loaders import normalize_text
from ragtune.types import Document


def fuzz(n: int):
    return settings(max_examples=n, database=None, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def count():
    from transformers import AutoTokenizer

    from ragtune.registry import resolve

    return token_counter(AutoTokenizer.from_pretrained(resolve("minilm-l6").path))


def words(text: str) -> int:
    return len(text.split())


# Pieces that drive the sentence splitter, the line-block rules and the long-sentence windows.
PIECES = ["The", "lighthouse", "was", "lit", ".", ". ", "!", "?", "…", "...", '."', ".)", "Dr.", "e.g.", "U.S.A.",
          "J. R. R.", "3.5", " ", "  ", "\n", "\n\n", "\n \n", "# ", "- ", "1. ", "> ", "| a |", "\t",
          "supercalifragilistic", "a1b2c3d4" * 20, "日本語の文章", "émigré", "🙂", "\u200b", "\u00ad", "\u2028",
          "\x0b", "\x85", "ﬁ", "Ⅻ", "\u0301"]
PROSE = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=400).map("".join)
TEXT = PROSE | st.text(max_size=1500)


def nonspace(text: str) -> str:
    return "".join(text.split())


def in_order(needle: str, haystack: str) -> bool:
    """Whether ``needle`` is a subsequence of ``haystack`` (the chunks overlap, so they hold more)."""
    it = iter(haystack)
    return all(c in it for c in needle)


def check(text: str, counter, max_tokens: int, overlap: int) -> None:
    doc = Document(doc_id="/docs/a.txt", source="/docs/a.txt", text=text, title="A", content_hash="h")
    chunks = chunk_document(doc, counter, max_tokens=max_tokens, overlap_tokens=overlap)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text.strip(), "an empty chunk"
        assert counter(c.text) <= max_tokens, (counter(c.text), c.text)
    assert in_order(nonspace(text), "".join(nonspace(c.text) for c in chunks))


@fuzz(400)
@given(text=TEXT, max_tokens=st.integers(16, 96), overlap=st.integers(0, 15))
@example(text="TheTheTheU.S.A.U.S.A.0:\x80", max_tokens=16, overlap=0)  # a character that makes no token
@example(text="\u200d" + "lighthouse " * 40 + "\u00ad", max_tokens=16, overlap=0)  # once cut off a long sentence
def test_chunks_fit_the_budget_and_cover_the_text_with_the_embedder_tokenizer(count, text, max_tokens, overlap):
    check(text, count, max_tokens, overlap)


@fuzz(300)
@given(text=TEXT, max_tokens=st.integers(16, 64), overlap=st.integers(0, 15))
def test_the_same_holds_for_normalized_text(count, text, max_tokens, overlap):
    """What ingest chunks: the loaders' normalized text."""
    check(normalize_text(text), count, max_tokens, overlap)


@fuzz(400)
@given(text=TEXT, max_tokens=st.integers(1, 20), data=st.data())
def test_chunks_fit_the_budget_and_cover_the_text_with_a_word_counter(text, max_tokens, data):
    check(text, words, max_tokens, data.draw(st.integers(0, max_tokens - 1)))
