"""``ragtune ask``: a grounded answer with citations (or closed-book / fine-tuned, by --mode)."""

from __future__ import annotations

import sys

import typer

from ragtune.cli.common import console, parse_filters, print_json, settings_from
from ragtune.kb import filters_to_where
from ragtune.pipeline import MODES, Pipeline
from ragtune.types import Answer


def ask(ctx: typer.Context, question: str = typer.Argument(..., help="The question."),
        kb: str = typer.Option(None, "--kb", "-k", help="Knowledge base (needed by rag, ft+rag, raft)."),
        mode: str = typer.Option("rag", "--mode", "-m", help=f"One of {', '.join(MODES)}."),
        model: str = typer.Option(None, "--model", help="Generator or trained model name (models.generator)."),
        top_k: int = typer.Option(None, "--top-k", "-n", help="Chunks in the prompt (retrieval.top_k)."),
        retrieval: str = typer.Option(None, "--retrieval", help="dense, bm25 or hybrid (retrieval.mode)."),
        filters: list[str] = typer.Option(None, "--filter", "-f", help="key=value on source, title, doc_id, page."),
        as_of: int = typer.Option(None, "--as-of", help="Answer from an earlier knowledge-base version."),
        max_tokens: int = typer.Option(None, "--max-tokens", help="Answer length limit (generation.max_tokens)."),
        show_prompt: bool = typer.Option(False, "--show-prompt", help="Print exactly what the model saw."),
        as_json: bool = typer.Option(False, "--json", help="Print answer, citations, chunks, timings as JSON."),
        no_stream: bool = typer.Option(False, "--no-stream", help="Print the answer only when it is complete.")):
    """Answer a question. RAG by default: retrieve, generate, cite; says it does not know when nothing fits."""
    s = settings_from(ctx)
    pipe = Pipeline(s)
    where = filters_to_where(parse_filters(filters))
    stream = not (as_json or no_stream or show_prompt)
    answer: Answer | None = None
    for piece in pipe.ask_stream(question, mode=mode, kb=kb, model=model, top_k=top_k, retrieval=retrieval,
                                 where=where, as_of=as_of, max_tokens=max_tokens):
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
    if answer.citations:
        console.print()
        for c in answer.citations:
            mark = "*" if c.cited else " "
            console.print(f"{mark}[{c.number}] [cyan]{c.source}[/] (score {c.score:.3f})", highlight=False)
    t = answer.timings
    console.print(f"[dim]{answer.mode} · {answer.model}{' + ' + answer.adapter if answer.adapter else ''} · "
                  f"{t.get('total_ms', 0):.0f} ms total, retrieval {t.get('retrieve_ms', 0):.0f} ms, "
                  f"{answer.usage.get('completion_tokens', 0)} tokens at {t.get('decode_tok_s', 0):.0f} tok/s"
                  + (f" · kb version {answer.kb_version}" if answer.kb else "") + "[/]")
