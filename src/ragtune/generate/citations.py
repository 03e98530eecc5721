"""Map the ``[n]`` markers of an answer to the chunks that were numbered ``n`` in the prompt."""

from __future__ import annotations

import re

from ragtune.types import Citation, Hit

_MARK = re.compile(r"\[(\d{1,3})(?:\s*,\s*(\d{1,3}))*\]")


def cited_numbers(answer: str) -> list[int]:
    """Passage numbers cited in ``answer``, in order of first appearance: "[2] and [1, 3]" -> [2, 1, 3]."""
    seen: list[int] = []
    for m in _MARK.finditer(answer):
        for n in re.findall(r"\d+", m.group(0)):
            if int(n) not in seen:
                seen.append(int(n))
    return seen


def build_citations(answer: str, hits: list[Hit], excerpt_chars: int = 300) -> list[Citation]:
    """One citation per retrieved passage; ``cited`` says whether the answer names it.

    Numbers outside 1..len(hits) are ignored (the model invented them).
    """
    cited = set(cited_numbers(answer))
    out = []
    for i, h in enumerate(hits, start=1):
        text = h.chunk.text if len(h.chunk.text) <= excerpt_chars else h.chunk.text[:excerpt_chars].rstrip() + "..."
        out.append(Citation(i, h.chunk.chunk_id, h.chunk.doc_id, h.chunk.source, text, h.score, i in cited))
    return out
