"""``ragtune ask``: a grounded answer with citations (or closed-book / fine-tuned, by --mode).

``--chat`` keeps a conversation: each line read from the terminal (or stdin) is a turn, answered
with the earlier turns in the prompt; ``--conversation FILE`` answers the last user turn of a
JSON list of ``{"role", "content"}`` messages. RAG follow-ups are searched with the same
standalone rewrite as ``ragtune serve`` (``serve.query_rewrite``; ``Pipeline.search_query``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.text import Text

from ragtune.cli.common import complete_kb, complete_mode, console, parse_filters, print_json, settings_from
from ragtune.errors import ConfigError
from ragtune.generate.conversation import Conversation, ConversationError
from ragtune.pipeline import MODES, Pipeline
from ragtune.types import Answer

CHAT_HELP = "Ctrl-D or /exit ends it, /new forgets the earlier turns"


def ask(ctx: typer.Context, question: str = typer.Argument(None, help="The question (with --chat: the first turn)."),
        kb: str = typer.Option(None, "--kb", "-k", help="Knowledge base (needed by rag, ft+rag, raft).",
                               autocompletion=complete_kb),
        mode: str = typer.Option("rag", "--mode", "-m", help=f"One of {', '.join(MODES)}.",
                                 autocompletion=complete_mode),
        model: str = typer.Option(None, "--model", help="Generator or trained model name (models.generator)."),
        top_k: int = typer.Option(None, "--top-k", "-n", help="Chunks in the prompt (retrieval.top_k)."),
        retrieval: str = typer.Option(None, "--retrieval", help="dense, bm25 or hybrid (retrieval.mode)."),
        filters: list[str] = typer.Option(None, "--filter", "-f", help="key=value on source, title, doc_id, page."),
        as_of: int = typer.Option(None, "--as-of", help="Answer from an earlier knowledge-base version."),
        max_tokens: int = typer.Option(None, "--max-tokens", help="Answer length limit (generation.max_tokens)."),
        reader: str = typer.Option(None, "--reader", help="plain or focus: how the answer is read from the "
                                   "passages (reader.method)."),
        focus_sentences: int = typer.Option(None, "--focus-sentences", min=1, help="Sentences the focus reader "
                                            "keeps (reader.focus_sentences; with the reader adapter, instead of "
                                            "its own 1)."),
        chat: bool = typer.Option(False, "--chat", help="A conversation: each line is a turn, the earlier turns "
                                  f"kept ({CHAT_HELP})."),
        conversation: Path = typer.Option(None, "--conversation", help="Answer the last user turn of a JSON list "
                                          'of {"role": ..., "content": ...} messages.', exists=True,
                                          dir_okay=False),
        show_prompt: bool = typer.Option(False, "--show-prompt", help="Print exactly what the model saw."),
        as_json: bool = typer.Option(False, "--json", help="Print answer, citations, chunks, timings as JSON "
                                     "(with --chat: one line per turn)."),
        no_stream: bool = typer.Option(False, "--no-stream", help="Print the answer only when it is complete.")):
    """Answer a question. RAG by default: retrieve, generate, cite; says it does not know when nothing fits."""
    if chat and conversation is not None:
        raise typer.BadParameter("use --chat or --conversation, not both")
    if conversation is not None and question:
        raise typer.BadParameter("--conversation answers the file's last user turn; leave out QUESTION")
    if not chat and conversation is None and not question:
        raise typer.BadParameter("give a QUESTION, --chat or --conversation FILE")
    s = settings_from(ctx)
    pipe = Pipeline(s)
    kw = dict(mode=mode, kb=kb, model=model, top_k=top_k, retrieval=retrieval, filters=parse_filters(filters),
              as_of=as_of, max_tokens=max_tokens, reader=reader,
              focus_sentences=focus_sentences)
    out = Output(as_json=as_json, show_prompt=show_prompt, stream=not (as_json or no_stream or show_prompt))
    if chat:
        return chat_session(pipe, question, kw, out)
    if conversation is not None:
        conv = Conversation.parse(read_conversation(conversation))
        query = pipe.search_query(conv, mode)
        answer = out.answer(pipe.chat_stream(conv, search_query=query, **kw))
        return out.show(answer, query if conv.turns else None)
    out.show(out.answer(pipe.ask_stream(question, **kw)))


def read_conversation(path: Path) -> list[dict[str, Any]]:
    """The messages of a conversation file: a JSON list of messages, or an object with ``messages``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path}: not a JSON file ({e}); write a list like "
                          '[{"role": "user", "content": "..."}]') from e
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    if not isinstance(data, list):
        raise ConfigError(f'{path}: expected a JSON list of messages like [{{"role": "user", "content": "..."}}], '
                          f"not a {type(data).__name__}")
    try:
        Conversation.parse(data)
    except ConversationError as e:
        raise ConversationError(f"{path}: {e}") from e
    return data


def chat_session(pipe: Pipeline, first: str | None, kw: dict[str, Any], out: Output) -> None:
    """Read turns line by line until EOF or /exit; each answer joins the conversation."""
    interactive = sys.stdin.isatty() and not out.as_json
    if interactive:
        console.print(f"[dim]chat with {kw['mode']}{' on ' + kw['kb'] if kw.get('kb') else ''}: {CHAT_HELP}[/]")
    messages: list[dict[str, str]] = []
    pending = [first] if first else []
    while True:
        if pending:
            line = pending.pop()
        else:
            if interactive:
                console.print("[bold]you>[/] ", end="")
            line = sys.stdin.readline()
            if not line:  # EOF
                break
        line = line.strip()
        if not line:
            continue
        if line in ("/exit", "/quit"):
            break
        if line == "/new":
            messages = []
            if interactive:
                console.print("[dim]new conversation[/]")
            continue
        messages.append({"role": "user", "content": line})
        conv = Conversation.parse(messages)
        query = pipe.search_query(conv, kw["mode"])
        answer = out.answer(pipe.chat_stream(conv, search_query=query, **kw))
        out.show(answer, query if conv.turns else None, turn=len(conv.turns) + 1)
        messages.append({"role": "assistant", "content": answer.text})


class Output:
    """How answers are printed: streamed as they come, whole, or as JSON."""

    def __init__(self, as_json: bool, show_prompt: bool, stream: bool):
        self.as_json, self.show_prompt, self.stream = as_json, show_prompt, stream

    def answer(self, pieces) -> Answer:
        answer: Answer | None = None
        for piece in pieces:
            if isinstance(piece, Answer):
                answer = piece
            elif self.stream:
                sys.stdout.write(piece)
                sys.stdout.flush()
        assert answer is not None
        return answer

    def show(self, answer: Answer, search_query: str | None = None, turn: int | None = None) -> None:
        """The answer (unless streamed), its citations and timings; ``search_query``: a follow-up's rewrite."""
        if self.as_json:
            data = answer.to_dict()
            if search_query is not None:
                data["search_query"] = search_query
            if turn is not None:  # one line per turn, so a session's output reads as JSON lines
                data["turn"] = turn
                typer.echo(json.dumps(data, default=str, ensure_ascii=False))
                return
            return print_json(data)
        if self.show_prompt:
            console.rule("prompt")
            console.print(answer.prompt or "(no prompt: nothing relevant was retrieved, so the model was not "
                          "called)", markup=False, highlight=False)
            console.rule("answer")
        if not self.stream:
            console.print(answer.text, markup=False, highlight=False)
        else:
            sys.stdout.write("\n")
            if answer.raw_text and answer.text != answer.raw_text:
                console.print(Text.assemble(("answer (cleaned): ", "dim"), answer.text), highlight=False)
        if search_query is not None and search_query != answer.question:
            console.print(Text.assemble(("searched for: ", "dim"), search_query), highlight=False)
        if answer.citations:
            console.print()
            for c in answer.citations:
                console.print(citation_line(c), highlight=False)
                for start, end in c.spans:
                    console.print(Text.assemble("     ", excerpt(c.text, start, end)), highlight=False)
        console.print(f"[dim]{footer(answer)}[/]", highlight=False)


_HOW = {"model": "cited by the model", "attributed": "attributed", "unsupported": "cited by the model, unsupported"}


def citation_line(c) -> str:
    mark = "*" if c.cited else ("!" if c.method == "unsupported" else " ")
    how = f" · {_HOW[c.method]}" if c.method else ""
    return f"{mark}[{c.number}] [cyan]{escape(c.source)}[/] (score {c.score:.3f}){how}"


def excerpt(text: str, start: int, end: int, around: int = 60) -> Text:
    """The supporting span in bold, with a little of the passage on each side."""
    a, b = max(0, start - around), min(len(text), end + around)
    return Text.assemble(("..." if a else "") + text[a:start], (text[start:end], "bold yellow"),
                         text[end:b] + ("..." if b < len(text) else ""))


def footer(answer) -> str:
    """Where the time went: retrieval, reading the prompt, generating, attributing citations."""
    t = answer.timings
    parts = [f"{answer.mode} · {answer.model}{' + ' + answer.adapter if answer.adapter else ''}",
             f"{t.get('total_ms', 0):.0f} ms total"]
    if "load_ms" in t and t["load_ms"] >= 1:
        parts.append(f"loading {t['load_ms']:.0f} ms")
    if "retrieve_ms" in t:
        parts.append(f"retrieval {t['retrieve_ms']:.0f} ms")
    if "prompt_ms" in t:
        cached = answer.usage.get("cached_tokens", 0)
        parts.append(f"prompt {answer.usage.get('prompt_tokens', 0)} tokens{f' ({cached} cached)' if cached else ''} "
                     f"read in {t['prompt_ms']:.0f} ms")
    if "decode_ms" in t:
        parts.append(f"{answer.usage.get('completion_tokens', 0)} tokens generated in {t['decode_ms']:.0f} ms "
                     f"({t.get('decode_tok_s', 0):.0f} tok/s)")
    if "cite_ms" in t:
        parts.append(f"citations {t['cite_ms']:.0f} ms")
    if answer.kb:
        parts.append(f"kb version {answer.kb_version}")
    return " · ".join(parts)
