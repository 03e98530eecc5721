"""Chunker: sentence splitting, token budget in the embedder's tokenizer, overlap, no lost text."""

from __future__ import annotations

import doctest
import random

import pytest

import ragtune.ingest.chunker as chunker_module
from ragtune.ingest import chunk_document, split_sentences, token_counter
from ragtune.ingest.chunker import chunk_id
from ragtune.types import Document


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from ragtune.registry import resolve

    return AutoTokenizer.from_pretrained(resolve("minilm-l6").path)


@pytest.fixture(scope="module")
def count(tokenizer):
    return token_counter(tokenizer)


def corpus_text(seed: int = 0) -> str:
    """Paragraphs of sentences of varied length, one sentence far over any budget, one huge
    unbroken token string, abbreviations, headings and list items."""
    rng = random.Random(seed)
    vocab = ("retrieval augmented generation model token budget chunk sentence overlap embedder "
             "Debian package kernel Tolkien photosynthesis Broncos stadium quantisation").split()
    paragraphs = []
    for p in range(12):
        sents = []
        for _ in range(rng.randint(1, 8)):
            n = rng.randint(3, 40)
            sents.append(" ".join(rng.choice(vocab) for _ in range(n)).capitalize() + rng.choice(".!?"))
        if p == 3:
            sents.append("Dr. Smith, e.g. in the U.S. Army, met J. R. R. Tolkien at 3.5 p.m. on Jan. 5.")
        if p == 5:
            sents.append(" ".join(f"Word{i}" for i in range(700)) + ".")  # ~1,400 tokens, no break
        if p == 7:
            sents.append("Hash " + "a1b2c3d4" * 120 + " ends.")  # one 'word' of ~500 tokens
        paragraphs.append(" ".join(sents))
    paragraphs.insert(2, "# A Heading\n- list item one\n- list item two")
    return "\n\n".join(paragraphs)


# -- sentences -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Dr. Smith went home. He slept.", ["Dr. Smith went home.", "He slept."]),
    ("Use tools, e.g. hammers. Then stop.", ["Use tools, e.g. hammers.", "Then stop."]),
    ("That is, i.e. Nothing.", ["That is, i.e. Nothing."]),
    ("J. R. R. Tolkien wrote it. The U.S. Army read it.",
     ["J. R. R. Tolkien wrote it.", "The U.S. Army read it."]),
    ("It costs $3.50 today. Buy it!", ["It costs $3.50 today.", "Buy it!"]),
    ("Really? Yes! Fine...", ["Really?", "Yes!", "Fine..."]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ("Yahoo! is a site. Mr. and Mrs. Doe agree.", ["Yahoo! is a site.", "Mr. and Mrs. Doe agree."]),
    ("See fig. 3 and No. 5 in vol. 2 of it. Done.", ["See fig. 3 and No. 5 in vol. 2 of it.", "Done."]),
    ("It happened in 2019. Then more.", ["It happened in 2019.", "Then more."]),
    ("First paragraph without a stop\n\nSecond one", ["First paragraph without a stop", "Second one"]),
    ("A line wrapped\nin the middle. Next.", ["A line wrapped in the middle.", "Next."]),
    ("# Title\nBody text here.\n- item one\n- item two\n1. numbered",
     ["# Title", "Body text here.", "- item one", "- item two", "1. numbered"]),
    ("Ends a line.\nStarts another", ["Ends a line.", "Starts another"]),
    ("", []),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_long_paragraph_splits_in_linear_time():
    # A quadratic splitter would take minutes here (it once did); this finishes in well under a second.
    assert len(split_sentences("This is a sentence about things. " * 30000)) == 30000


def test_docstring_examples_hold():
    result = doctest.testmod(chunker_module)
    assert result.attempted >= 2 and result.failed == 0


# -- chunking with a word counter ------------------------------------------------------------


def doc(text: str, **meta) -> Document:
    return Document(doc_id="/data/a.txt", source="/data/a.txt", text=text, title="A", content_hash="h",
                    metadata=meta)


def test_pack_and_overlap_with_word_counts():
    d = doc("Aa bb cc. Dd ee. Ff gg hh ii. Jj. Kk ll mm nn oo pp.")
    texts = [c.text for c in chunk_document(d, words, max_tokens=6, overlap_tokens=2)]
    # "Ff gg hh ii." (4) is over the 2-word overlap, so "Jj." opens a fresh chunk; carrying "Jj."
    # into the last chunk would pass the budget (1 + 6 > 6), so the carry is dropped there.
    assert texts == ["Aa bb cc. Dd ee.", "Dd ee. Ff gg hh ii.", "Jj.", "Kk ll mm nn oo pp."]


def test_no_overlap():
    d = doc("One two. Three four. Five six.")
    texts = [c.text for c in chunk_document(d, words, max_tokens=4, overlap_tokens=0)]
    assert texts == ["One two. Three four.", "Five six."]


def test_overlap_makes_room_for_the_next_sentence():
    # carrying "C d e." (3) would leave no room for the 4-word sentence: the carry is dropped.
    d = doc("Aa bb. Cc dd ee. Ff gg hh ii.")
    texts = [c.text for c in chunk_document(d, words, max_tokens=5, overlap_tokens=3)]
    assert texts == ["Aa bb. Cc dd ee.", "Ff gg hh ii."]


def test_paragraph_breaks_kept_inside_chunks():
    d = doc("First para one. Two.\n\nSecond para.")
    [c] = chunk_document(d, words, max_tokens=50, overlap_tokens=5)
    assert c.text == "First para one. Two.\n\nSecond para."


def test_long_sentence_split_with_plain_counter():
    d = doc(" ".join(f"w{i}" for i in range(25)) + ". Short end.")
    chunks = chunk_document(d, words, max_tokens=10, overlap_tokens=3)
    assert all(words(c.text) <= 10 for c in chunks)
    got = " ".join(c.text for c in chunks).split()
    assert all(f"w{i}" in got for i in range(24)) and "w24." in got
    assert chunks[0].text.split()[-3:] == chunks[1].text.split()[:3]  # windows overlap by 3 words


def test_chunk_fields_ids_and_metadata():
    d = doc("One. Two. Three.", page=4, source_type="pdf")
    chunks = chunk_document(d, words, max_tokens=1, overlap_tokens=0)
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.chunk_id for c in chunks] == [chunk_id(d.doc_id, i) for i in range(3)]
    assert len({c.chunk_id for c in chunks}) == 3
    assert chunks[0].chunk_id.endswith("-0") and len(chunks[0].chunk_id.split("-")[0]) == 16
    for c in chunks:
        assert (c.doc_id, c.source, c.title, c.page, c.content_hash) == (d.doc_id, d.source, "A", 4, "h")
        assert c.metadata == {"page": 4, "source_type": "pdf"}
    chunks[0].metadata["x"] = 1
    assert "x" not in d.metadata and "x" not in chunks[1].metadata


def test_page_is_none_without_page_metadata():
    [c] = chunk_document(doc("Text."), words, max_tokens=5, overlap_tokens=0)
    assert c.page is None


def test_empty_document_gives_no_chunks():
    assert chunk_document(doc(""), words, max_tokens=5, overlap_tokens=0) == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (5, 5), (5, -1)])
def test_bad_budget(max_tokens, overlap):
    with pytest.raises(ValueError, match="overlap_tokens"):
        chunk_document(doc("Text."), words, max_tokens=max_tokens, overlap_tokens=overlap)


# -- the real embedder tokenizer ---------------------------------------------------------------


def test_token_counter_matches_tokenizer_without_special_tokens(tokenizer, count):
    texts = ["Hello world.", "Tokenisation of unusual words: photosynthesis, quantisation!", "Ünïcödé ☃", ""]
    for text in texts:
        assert count(text) == len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_token_counter_is_not_truncated_by_the_shared_tokenizer(tokenizer):
    tokenizer("warm up with truncation", truncation=True, max_length=8)  # as an embedder would
    long = "word " * 1000
    assert token_counter(tokenizer)(long) == 1000


@pytest.mark.parametrize(("max_tokens", "overlap"), [(16, 0), (32, 8), (64, 16), (200, 32)])
def test_every_chunk_within_budget_and_no_sentence_lost(count, max_tokens, overlap):
    d = doc(corpus_text())
    chunks = chunk_document(d, count, max_tokens=max_tokens, overlap_tokens=overlap)
    sizes = [count(c.text) for c in chunks]
    assert max(sizes) <= max_tokens
    assert sum(sizes) >= count(d.text)  # overlap only adds
    for sent in split_sentences(d.text):
        if count(sent) <= max_tokens:
            assert any(sent in c.text for c in chunks), sent
    # Words of the over-long sentences survive in the token windows, original case included.
    joined = "\n".join(c.text for c in chunks)
    for w in ["Word0", "Word350", "Word699.", "ends."]:
        assert w in joined
    assert joined.count("a1b2c3d4") >= 120


def test_overlap_repeats_trailing_sentences(count):
    sentences = [f"Sentence number {i} talks about retrieval." for i in range(30)]
    d = doc(" ".join(sentences))
    chunks = chunk_document(d, count, max_tokens=40, overlap_tokens=10)
    assert len(chunks) > 3
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        last = split_sentences(prev.text)[-1]
        assert count(last) <= 10
        assert nxt.text.startswith(last)


def test_long_sentence_windows_overlap_and_fit(count):
    sent = " ".join(f"Token{i}" for i in range(300)) + "."
    pieces = count.windows(sent, 50, 10)
    assert len(pieces) > 5
    assert all(count(p) <= 50 for p in pieces)
    assert pieces[0].startswith("Token0 ") and pieces[-1].endswith("Token299.")
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert a.split()[-1] in b.split()[:10]  # consecutive windows share words


def test_chunking_is_deterministic(tokenizer):
    d = doc(corpus_text(seed=1), page=2)
    first = chunk_document(d, token_counter(tokenizer), 64, 16)
    second = chunk_document(d, token_counter(tokenizer), 64, 16)
    assert [c.to_dict() for c in first] == [c.to_dict() for c in second]
