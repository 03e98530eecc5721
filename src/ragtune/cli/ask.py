"""``ragtune ask``: a grounded answer with citations (or closed-book / fine-tuned, by --mode)."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.text import Text

from ragtune.cli.common import complete_kb, complete_mode, console, parse_filters, print_json, settings_from
from ragtune.pipeline import MODES, Pipeline
from ragtune.types import Answer


def ask(ctx: typer.Context, question: str = typer.Argument(..., help="The question."),
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
        show_prompt: bool = typer.Option(False, "--show-prompt", help="Print exactly what the model saw."),
        as_json: bool = typer.Option(False, "--json", help="Print answer, citations, chunks, timings as JSON."),
        no_stream: bool = typer.Option(False, "--no-stream", help="Print the answer only when it is complete.")):
    """Answer a question. RAG by default: retrieve, generate, cite; says it does not know when nothing fits."""
    s = settings_from(ctx)
    pipe = Pipeline(s)
    stream = not (as_json or no_stream or show_prompt)
    answer: Answer | None = None
    for piece in pipe.ask_stream(question, mode=mode, kb=kb, model=model, top_k=top_k, retrieval=retrieval,
                                 filters=parse_filters(filters), as_of=as_of, max_tokens=max_tokens, reader=reader):
        if isinstance(piece, Answer):
            answer = piece
        elif stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
    assert answer is not None
    if as_json:
        return print_json(answer.to_dict())
    if show_prompt:
        console.rule("prompt")
        console.print(answer.prompt or "(no prompt: nothing relevant was retrieved, so the model was not called)",
                      markup=False, highlight=False)
        console.rule("answer")
    if not stream:
        console.print(answer.text, markup=False, highlight=False)
    else:
        sys.stdout.write("\n")
        if answer.raw_text and answer.text != answer.raw_text:
            console.print(Text.assemble(("answer (cleaned): ", "dim"), answer.text), highlight=False)
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
        parts.append(f"prompt {answer.usage.get('prompt_tokens', 0)} tokens read in {t['prompt_ms']:.0f} ms")
    if "decode_ms" in t:
        parts.append(f"{answer.usage.get('completion_tokens', 0)} tokens generated in {t['decode_ms']:.0f} ms "
                     f"({t.get('decode_tok_s', 0):.0f} tok/s)")
    if "cite_ms" in t:
        parts.append(f"citations {t['cite_ms']:.0f} ms")
    if answer.kb:
        parts.append(f"kb version {answer.kb_version}")
    return " · ".join(parts)
