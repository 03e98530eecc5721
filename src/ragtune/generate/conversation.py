"""Messages as a conversation: earlier turns, the question, and a standalone question.

Shared by the server (``/v1/chat/completions``) and the CLI (``ragtune ask --chat`` and
``--conversation FILE``), through ``Pipeline.search_query`` and ``Pipeline.chat_stream``.

The pipelines answer a question with their own prompt templates, so a conversation reaches
the model as: the pipeline's system prompt, then the earlier (user, assistant) turns as chat
turns, then the last user message in the pipeline's template. A client's system messages go
in front of the first user turn (the pipeline's system prompt keeps its place). The engine
drops the oldest turns when the whole does not fit ``n_ctx`` (``trimmed_messages`` in the
response).

Retrieval for a follow-up ("and who was its MVP?") needs the earlier turns: with
``serve.query_rewrite = "generate"`` (the default; ``ragtune ask --chat`` follows it too) the
generator first rewrites the follow-up into a standalone question (``REWRITE_SYSTEM`` below,
greedy, at most 48 tokens), and the knowledge base is searched with that; the rewrite is
returned as ``ragtune.search_query``. A first question, or ``query_rewrite = "none"``, searches
with the question as asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragtune.errors import RagtuneError
from ragtune.generate.base import Engine, GenParams, Message

REWRITE_SYSTEM = (
    "You rewrite a follow-up question so that it stands alone: replace it, its, they, their, he, she "
    "with the name from the earlier question. Reply with the rewritten question only."
)
REWRITE_EXAMPLE = (  # one worked example: the 135M model copies text without it
    "Earlier question: Tell me about the Eiffel Tower.\nFollow-up: How tall is it?",
    "How tall is the Eiffel Tower?",
)
REWRITE_TEMPLATE = "Earlier question: {history}\nFollow-up: {question}"
ROLES = ("system", "user", "assistant", "developer")


class ConversationError(RagtuneError, ValueError):
    """A conversation that cannot be answered (a 400 from the API); the message names the fix."""

    exit_code = 2


def text_of(content: Any) -> str:
    """A message's text: a string, or the ``text`` parts of OpenAI's content-part list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")


@dataclass
class Conversation:
    question: str
    system: str = ""
    turns: list[tuple[str, str]] = field(default_factory=list)  # earlier (user, assistant) pairs

    @classmethod
    def parse(cls, messages: list[dict[str, Any]]) -> Conversation:
        """From OpenAI messages: the last one must be the user's; earlier ones pair up in order."""
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("content"), str | list | None):
                raise ConversationError(f"messages[{i}] must be an object with a role and a text content, "
                                        f'as in {{"role": "user", "content": "..."}}; got {str(m)[:80]!r}')
        msgs = [(m.get("role"), text_of(m.get("content")).strip()) for m in messages]
        for i, (role, _) in enumerate(msgs):
            if role not in ROLES:
                raise ConversationError(f"messages[{i}].role {role!r} is not supported; use system, user "
                                        "or assistant (tool messages need tools, which this server refuses)")
        if not msgs or msgs[-1][0] != "user" or not msgs[-1][1]:
            raise ConversationError('messages: the last message must be a user message with text; '
                                    'end with {"role": "user", "content": "..."}')
        system = "\n\n".join(t for r, t in msgs[:-1] if r in ("system", "developer") and t)
        turns: list[tuple[str, str]] = []
        user: list[str] = []
        for role, text in msgs[:-1]:
            if role == "user":
                user.append(text)
            elif role == "assistant":
                turns.append(("\n\n".join(user), text))
                user = []
        question = "\n\n".join([*user, msgs[-1][1]])  # user messages with no answer between join up
        return cls(question=question, system=system, turns=turns)

    def examples(self) -> list[tuple[str, str]]:
        """The earlier turns as the pipeline's chat turns, the client's system text before the first."""
        if not self.system or not self.turns:
            return list(self.turns)
        (u, a), rest = self.turns[0], self.turns[1:]
        return [(f"{self.system}\n\n{u}".strip(), a), *rest]

    def prompt_question(self) -> str:
        """The question as the model reads it (the system text goes here when there are no turns)."""
        return f"{self.system}\n\n{self.question}" if self.system and not self.turns else self.question


def rewrite_messages(turns: list[tuple[str, str]], question: str, last: int = 1) -> list[Message]:
    """The rewrite prompt: the earlier user questions only (the small model copies answers it is shown)."""
    history = " ".join(u for u, _ in turns[-last:])
    return [{"role": "system", "content": REWRITE_SYSTEM},
            {"role": "user", "content": REWRITE_EXAMPLE[0]}, {"role": "assistant", "content": REWRITE_EXAMPLE[1]},
            {"role": "user", "content": REWRITE_TEMPLATE.format(history=history, question=question)}]


def standalone_question(engine: Engine, turns: list[tuple[str, str]], question: str) -> str:
    """The follow-up rewritten by the generator into a question that stands alone (the question
    itself when there are no earlier turns or the rewrite comes back empty or runaway)."""
    if not turns:
        return question
    params = GenParams(max_tokens=48, temperature=0.0, stop=["\n"], trim_history=True)
    text = engine.generate(rewrite_messages(turns, question), params).text.strip().strip('"').strip()
    if not text or len(text) > 4 * len(question) + 200:
        return question
    return text
