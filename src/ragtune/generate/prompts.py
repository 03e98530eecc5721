"""Every prompt ragtune sends is built here, from templates in the config (``[prompts]``).

Nothing is hidden: ``ragtune ask --show-prompt`` prints the rendered prompt, and the run
log stores it with every answer.
"""

from __future__ import annotations

from ragtune.config import PromptSettings
from ragtune.generate.base import Message
from ragtune.types import Hit


def format_context(hits: list[Hit], p: PromptSettings, numbers: list[int] | None = None) -> str:
    """The numbered passages; ``numbers`` keeps the hits' own numbers when some were left out."""
    numbers = numbers or list(range(1, len(hits) + 1))
    return "\n\n".join(p.context_item.format(n=n, text=h.chunk.text.strip(), title=h.chunk.title,
                                             source=h.chunk.source) for n, h in zip(numbers, hits, strict=True))


def rag_messages(question: str, hits: list[Hit], p: PromptSettings,
                 examples: list[tuple[str, str]] | None = None, numbers: list[int] | None = None) -> list[Message]:
    """System prompt, optional few-shot turns, then the numbered context and the question."""
    msgs: list[Message] = [{"role": "system", "content": p.system}]
    for q, a in examples or []:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    msgs.append({"role": "user", "content": p.rag_template.format(context=format_context(hits, p, numbers),
                                                                   question=question.strip())})
    return msgs


def base_messages(question: str, p: PromptSettings, examples: list[tuple[str, str]] | None = None) -> list[Message]:
    """Closed-book: the same model with no retrieved text."""
    msgs: list[Message] = [{"role": "system", "content": p.base_system}]
    for q, a in examples or []:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    msgs.append({"role": "user", "content": p.base_template.format(question=question.strip())})
    return msgs
