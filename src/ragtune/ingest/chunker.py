"""Sentence-aware chunking under a token budget counted in the embedder's own tokenizer.

Why the embedder's tokenizer: the embedder truncates what it cannot read (MiniLM stops at 256
word pieces), so a budget counted in words or characters silently loses the end of a chunk.

How: split the text into sentences (paragraph breaks are boundaries too), then pack whole
sentences into a chunk until the next one would pass ``max_tokens``. The next chunk starts
with the trailing sentences of the previous one that fit in ``overlap_tokens``, so a fact
that straddles a boundary is whole in at least one chunk. A sentence longer than
``max_tokens`` on its own is cut into token windows that overlap by ``overlap_tokens``.

Worked example, counting words instead of tokens to keep it readable::

    >>> from ragtune.types import Document
    >>> doc = Document(doc_id="d", source="d.txt",
    ...                text="One two three. Four five. Six seven eight nine. Ten.")
    >>> words = lambda s: len(s.split())
    >>> [c.text for c in chunk_document(doc, words, max_tokens=6, overlap_tokens=2)]
    ['One two three. Four five.', 'Four five. Six seven eight nine.', 'Ten.']

The first chunk takes 3 + 2 words; the 4-word sentence would make 9 > 6. Its last sentence,
"Four five." (2 words), fits the 2-word overlap and opens the second chunk, which is then full
(2 + 4 = 6). The last sentence of the second chunk has 4 words, more than the overlap, so the
third chunk carries nothing over and is just "Ten.".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ragtune.types import Chunk, Document

# ---------------------------------------------------------------------------------------------
# Sentences

# Words after which a period does not end a sentence (compared lower-case, without the dot).
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt rev hon gen col lt sgt capt cmdr adm gov sen rep pres
    vs cf fig figs eq eqs vol vols pp ch no nos approx ca dept est al viz
    jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e a.m p.m ph.d u.s u.k""".split()
)
_CANDIDATE = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s+\S)")
_BLOCK_LINE = re.compile(r"^(#{1,6}\s|[-*+\u2022]\s|\d+[.)]\s|>|\|)")
_TERMINAL = re.compile(r"[.!?:;\u2026][\"'\u201d\u2019)\]]*$")
_NEXT_CHAR = re.compile(r"\s*(\S)")
_LAST_WORD = re.compile(r"[^\s(\[\"']*$")
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")


def _is_boundary(text: str, cand: re.Match[str]) -> bool:
    """Whether the candidate punctuation (with any closing quote or bracket) ends a sentence.

    Everything is looked up by index: slicing the rest of the text per candidate would make
    a long paragraph quadratic.
    """
    nxt = _NEXT_CHAR.match(text, cand.end())
    if nxt and nxt.group(1).islower():  # "e.g. the", "Yahoo! is"
        return False
    punct = cand.group(0)
    if not punct.startswith(".") or punct.startswith(".."):
        return True
    stop = cand.start()
    word = _LAST_WORD.search(text[max(0, stop - 64) : stop]).group(0)
    low = word.lower()
    if low in ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isalpha():  # an initial: "J. R. R. Tolkien"
        return False
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):  # "U.S.A."
        return False
    return True


def _split_line_group(text: str) -> list[str]:
    out, start = [], 0
    for m in _CANDIDATE.finditer(text):
        if _is_boundary(text, m):
            out.append(text[start : m.end()].strip())
            start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _blocks(paragraph: str) -> list[str]:
    """Join wrapped lines (PDF, hard-wrapped text) but keep headings, list items and lines
    that end a sentence on their own."""
    groups: list[list[str]] = []
    prev = ""
    for line in (ln.strip() for ln in paragraph.split("\n")):
        if not line:
            continue
        new = not groups or _BLOCK_LINE.match(line) or prev.startswith("#") or _TERMINAL.search(prev)
        if new:
            groups.append([line])
        else:
            groups[-1].append(line)
        prev = line
    return [" ".join(g) for g in groups]


def _units(text: str) -> list[tuple[str, bool]]:
    """Sentences with a flag saying whether each one starts a new paragraph or line block."""
    out: list[tuple[str, bool]] = []
    for para in _PARAGRAPH.split(text):
        for block in _blocks(para):
            for i, sent in enumerate(_split_line_group(block)):
                out.append((sent, i == 0))
    return out


def split_sentences(text: str) -> list[str]:
    """Split text into sentences with a regex that knows common abbreviations.

    Paragraph breaks, headings and list items always end a sentence; single line breaks
    inside a paragraph are treated as wrapping.

    >>> split_sentences("Dr. Smith uses tools, e.g. hammers. It works!\\n\\nNew paragraph")
    ['Dr. Smith uses tools, e.g. hammers.', 'It works!', 'New paragraph']
    """
    return [s for s, _ in _units(text)]


# ---------------------------------------------------------------------------------------------
# Token counting


class TokenCounter:
    """Counts tokens of a Hugging Face tokenizer without special tokens, with a cache.

    A fast tokenizer is used through a private copy of its Rust backend with truncation and
    padding switched off: the shared tokenizer keeps whatever truncation the embedder last
    set, which would cap every count at the model's maximum length.
    """

    def __init__(self, tokenizer: Any, cache_size: int = 65536):
        self.tokenizer = tokenizer
        fast = getattr(tokenizer, "is_fast", False)
        backend = getattr(tokenizer, "backend_tokenizer", None) if fast else None
        if backend is not None:
            from tokenizers import Tokenizer

            backend = Tokenizer.from_str(backend.to_str())
            backend.no_truncation()
            backend.no_padding()
        self._backend = backend
        self._count = lru_cache(maxsize=cache_size)(self._raw_count)

    def _raw_count(self, text: str) -> int:
        if self._backend is not None:
            return len(self._backend.encode(text, add_special_tokens=False).ids)
        return len(self.tokenizer.encode(text, add_special_tokens=False, verbose=False))

    def __call__(self, text: str) -> int:
        return self._count(text)

    def windows(self, text: str, max_tokens: int, overlap_tokens: int) -> list[str]:
        """Cut ``text`` into pieces of at most ``max_tokens`` tokens that overlap by about
        ``overlap_tokens``, preferring to cut between words."""
        if self._backend is None:
            ids = self.tokenizer.encode(text, add_special_tokens=False, verbose=False)
            stride = max(1, max_tokens - overlap_tokens)
            return [
                self.tokenizer.decode(ids[i : i + max_tokens]).strip()
                for i in range(0, max(1, len(ids) - overlap_tokens), stride)
            ]
        offsets = self._backend.encode(text, add_special_tokens=False).offsets
        return _offset_windows(text, offsets, max_tokens, overlap_tokens, self)


def _offset_windows(
    text: str, offsets: list[tuple[int, int]], max_tokens: int, overlap: int, count: Callable[[str], int]
) -> list[str]:
    n = len(offsets)
    starts_word = [i == 0 or offsets[i][0] > offsets[i - 1][1] for i in range(n)] + [True]
    slack = max(1, max_tokens // 4)

    # Tokens start..cut-1, up to where the next token starts: characters that make no token
    # (control and format characters such as U+200D) between two windows are kept, not dropped.
    def span(start: int, cut: int) -> str:
        return text[0 if start == 0 else offsets[start][0] : len(text) if cut >= n else offsets[cut][0]]

    pieces, start = [], 0
    while start < n:
        end = min(n, start + max_tokens)
        # Prefer ending between two words, if one is close enough.
        cut = next((j for j in range(end, max(start + 1, end - slack) - 1, -1) if starts_word[j]), end)
        piece = span(start, cut)
        while cut - start > 1 and count(piece) > max_tokens:  # re-tokenising a slice can differ
            cut -= 1
            piece = span(start, cut)
        pieces.append(piece.strip())
        if cut >= n:
            break
        nxt = max(start + 1, cut - overlap)
        while nxt > start + 1 and not starts_word[nxt]:  # begin at a word start (more overlap)
            nxt -= 1
        start = nxt
    return [p for p in pieces if p]


def token_counter(tokenizer: Any) -> TokenCounter:
    """A cached token counter for ``tokenizer`` (the embedder's), for :func:`chunk_document`."""
    return TokenCounter(tokenizer)


def _word_windows(text: str, max_tokens: int, overlap: int, count: Callable[[str], int]) -> list[str]:
    """Fallback for a plain counting function: pack words (or characters of a huge word)."""
    words = text.split()
    pieces: list[str] = []
    i = 0
    while i < len(words):
        j = i + 1
        while j < len(words) and count(" ".join(words[i : j + 1])) <= max_tokens:
            j += 1
        piece = " ".join(words[i:j])
        if count(piece) > max_tokens:  # one word over budget: cut by characters
            step = max(1, len(piece) * max_tokens // max(1, count(piece)))
            pieces.extend(piece[k : k + step] for k in range(0, len(piece), step))
        else:
            pieces.append(piece)
        if j >= len(words):
            break
        back = j
        while back > i + 1 and count(" ".join(words[back - 1 : j])) <= overlap:
            back -= 1
        i = back
    return pieces


# ---------------------------------------------------------------------------------------------
# Chunks


@dataclass
class _Unit:
    text: str
    tokens: int
    new_block: bool


def _join(units: list[_Unit]) -> str:
    parts = []
    for k, u in enumerate(units):
        if k:
            parts.append("\n\n" if u.new_block else " ")
        parts.append(u.text)
    return "".join(parts)


def chunk_id(doc_id: str, index: int) -> str:
    """Deterministic id: the same document and position give the same id on every run."""
    return f"{hashlib.sha1(doc_id.encode('utf-8')).hexdigest()[:16]}-{index}"


def chunk_document(
    doc: Document, count_tokens: Callable[[str], int], max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Split ``doc`` into chunks of whole sentences, each at most ``max_tokens`` by
    ``count_tokens``, the next one opening with up to ``overlap_tokens`` of the previous one.

    ``count_tokens`` is usually :func:`token_counter` of the embedder's tokenizer; any
    ``str -> int`` function works (long sentences are then cut between words).
    """
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"need 0 <= overlap_tokens < max_tokens, got {overlap_tokens} and {max_tokens}")
    units: list[_Unit] = []
    windows = getattr(count_tokens, "windows", None)
    for sent, new_block in _units(doc.text):
        n = count_tokens(sent)
        if n <= max_tokens:
            units.append(_Unit(sent, n, new_block))
            continue
        if windows is not None:
            pieces = windows(sent, max_tokens, overlap_tokens)
        else:
            pieces = _word_windows(sent, max_tokens, overlap_tokens, count_tokens)
        for k, piece in enumerate(pieces):
            units.append(_Unit(piece, count_tokens(piece), new_block and k == 0))

    texts: list[str] = []
    carry: list[_Unit] = []  # the overlap opening the next chunk
    i = 0
    while i < len(units):
        total = sum(u.tokens for u in carry)
        while carry and total + units[i].tokens > max_tokens:
            total -= carry.pop(0).tokens
        new: list[_Unit] = []
        while i < len(units) and total + units[i].tokens <= max_tokens:
            new.append(units[i])
            total += units[i].tokens
            i += 1
        # Counts of parts need not add up exactly (separators, BPE merges): check the whole.
        text = _join(carry + new)
        while count_tokens(text) > max_tokens and len(carry) + len(new) > 1:
            if len(new) > 1:
                new.pop()
                i -= 1
            else:
                carry.pop(0)
            text = _join(carry + new)
        texts.append(text)
        chunk, carry = carry + new, []
        budget = overlap_tokens
        for u in reversed(chunk):
            if u.tokens > budget:
                break
            carry.insert(0, u)
            budget -= u.tokens

    page = doc.metadata.get("page")
    return [
        Chunk(
            chunk_id=chunk_id(doc.doc_id, k), doc_id=doc.doc_id, source=doc.source, text=t, index=k,
            title=doc.title, page=page, content_hash=doc.content_hash, metadata=dict(doc.metadata),
        )
        for k, t in enumerate(texts)
    ]
