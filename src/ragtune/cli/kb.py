"""``ragtune kb ...``, ``ragtune ingest``, ``ragtune delete``, ``ragtune search``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ragtune.cli.common import complete_kb, console, err, parse_filters, print_json, settings_from
from ragtune.ingest.sync import check_paths
from ragtune.kb import KnowledgeBase, list_kbs, open_kb

app = typer.Typer(help="Create, inspect and delete knowledge bases.", no_args_is_help=True)


def _when(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


_STORE_HELP = ("Where the knowledge base lives: 'lance' (embedded, under --data-dir) or a PostgreSQL URL "
               "postgresql://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass; never stored). "
               "Default: store.backend / store.url.")


def _store_fields(store: str | None) -> dict[str, str | None]:
    """``--store`` as settings: a URL means the postgres backend at that URL, anything else a backend name."""
    if store is None:
        return {}
    if store.startswith(("postgresql://", "postgres://")):
        return {"store__backend": "postgres", "store__url": store}
    return {"store__backend": store}


@app.command("create")
def create(ctx: typer.Context, name: str = typer.Argument(..., help="Name: letters, digits, '.', '_', '-'."),
           description: str = typer.Option("", "--description", "-d", help="What this knowledge base holds."),
           store: str = typer.Option(None, "--store", help=_STORE_HELP)):
    """Create an empty knowledge base."""
    s = settings_from(ctx, **_store_fields(store))
    kb = KnowledgeBase.create(s, name, description)
    where = s.data_dir if kb.meta["store"] == "lance" else kb.location()
    console.print(f"created knowledge base [bold]{name}[/] in {escape(str(where))}", highlight=False)


@app.command("copy")
def copy(ctx: typer.Context, src: str = typer.Argument(..., help="The knowledge base to copy.",
                                                 autocompletion=complete_kb),
         dst: str = typer.Argument(..., help="Name of the new knowledge base."),
         store: str = typer.Option(None, "--store", help=_STORE_HELP)):
    """Copy the current version of a knowledge base, with its embedder, into a new one (another store)."""
    s = settings_from(ctx, **_store_fields(store))
    kb = KnowledgeBase.copy(s, src, dst)
    console.print(f"copied {src} version {kb.meta['copied_from']['version']} to [bold]{dst}[/] "
                  f"({kb.store.count()} chunks) in {escape(kb.location())}", highlight=False)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List knowledge bases with their size, version and store."""
    s = settings_from(ctx)
    infos = [{**kb.info(), "location": kb.location()} for kb in (open_kb(s, n) for n in list_kbs(s))]
    if as_json:
        return print_json(infos)
    if not infos:
        console.print(f"no knowledge bases in {s.data_dir}; create one: ragtune kb create NAME")
        return
    t = Table("name", "version", "sources", "chunks", "size", "embedder", "store", "description")
    for i in infos:
        t.add_row(i["name"], str(i["version"]), str(i["sources"]), str(i["chunks"]), _size(i["size_bytes"]),
                  i["embedder"], i["store"] if i["store"] == "lance" else i["location"], i["description"])
    console.print(t)


@app.command("info")
def info(ctx: typer.Context, name: str = typer.Argument(..., help="Knowledge base name.", autocompletion=complete_kb),
         as_json: bool = typer.Option(False, "--json", help="Print JSON."),
         documents: bool = typer.Option(False, "--documents", help="Also list every source document."),
         versions: bool = typer.Option(False, "--versions", help="Also list every version.")):
    """Show a knowledge base: counts, size, where it is stored, versions, documents."""
    s = settings_from(ctx)
    kb = open_kb(s, name)
    data = {**kb.info(), "location": kb.location()}
    if documents:
        data["documents_list"] = kb.store.documents()
    if versions:
        data["versions_list"] = [v.__dict__ for v in kb.store.versions()]
    if as_json:
        return print_json(data)
    for k in ("name", "description", "embedder", "version", "sources", "documents", "chunks", "store", "location",
              "path"):
        console.print(f"[bold]{k}[/]: {escape(str(data[k]))}")
    console.print(f"[bold]size[/]: {_size(data['size_bytes'])}")
    if documents:
        t = Table("source", "title", "documents", "chunks", "ingested")
        for d in data["documents_list"]:
            t.add_row(d["source"], d["title"][:40], str(d["documents"]), str(d["chunks"]), _when(d["ingested_at"]))
        console.print(t)
    if versions:
        t = Table("version", "time", "added chunks", "removed chunks", "note")
        for v in data["versions_list"]:
            t.add_row(str(v["version"]), _when(v["time"]), str(v["added"]), str(v["removed"]), v["note"])
        console.print(t)


@app.command("delete")
def delete(ctx: typer.Context,
           name: str = typer.Argument(..., help="Knowledge base name.", autocompletion=complete_kb),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")):
    """Delete a knowledge base and all its versions."""
    s = settings_from(ctx)
    if not yes and not typer.confirm(f"delete knowledge base {name!r} and all its versions?"):
        raise typer.Exit(1)
    KnowledgeBase.delete(s, name)
    console.print(f"deleted knowledge base {name}")


def _interrupted(kbo: KnowledgeBase, before: int) -> str:
    """What Ctrl-C left: the store commits a version whole or not at all, so say which."""
    now = kbo.store.version()
    if now == before:
        return f"interrupted: nothing was changed, version {now} of {kbo.name} is still current"
    return f"interrupted after the commit: version {now} of {kbo.name} is complete and current"


def ingest(ctx: typer.Context,
           paths: list[Path] = typer.Argument(..., help="Files and folders (.txt .md .html .pdf .json .jsonl .csv)."),
           kb: str = typer.Option(..., "--kb", "-k", help="Knowledge base name.", autocompletion=complete_kb),
           sync: bool = typer.Option(False, "--sync", help="Also remove documents gone from the given folders."),
           create: bool = typer.Option(False, "--create", help="Create the knowledge base if it does not exist."),
           text_field: str = typer.Option(None, "--text-field", help="JSON/JSONL field holding the text."),
           text_column: str = typer.Option(None, "--text-column", help="CSV column holding the text."),
           as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")):
    """Add or update documents; unchanged files are skipped, changed ones replaced."""
    s = settings_from(ctx, ingest__json_text_field=text_field, ingest__csv_text_column=text_column)
    if create:
        KnowledgeBase.create(s, kb, exist_ok=True)
    kbo = open_kb(s, kb)
    check_paths(paths)  # a wrong path fails before the store (lancedb) and the embedder load
    before = kbo.store.version()
    try:
        rep = kbo.ingest(list(paths), sync=sync, show_progress=not as_json)
    except KeyboardInterrupt:
        err.print(f"[yellow]{_interrupted(kbo, before)}[/]", highlight=False)
        raise typer.Exit(130) from None
    if as_json:
        print_json(rep.to_dict())
    else:
        for _src, e in rep.failed:
            err.print(f"[yellow]skipped[/] {e}")
        console.print(
            f"{kb}: {len(rep.added)} added, {len(rep.updated)} updated, {len(rep.unchanged)} unchanged, "
            f"{len(rep.removed)} removed, {len(rep.failed)} failed; +{rep.chunks_added}/-{rep.chunks_removed} chunks; "
            f"version {rep.version} ({rep.timings.get('total_s', 0):.1f} s)"
        )
    if rep.failed and not (rep.added or rep.updated or rep.unchanged):
        raise typer.Exit(1)


def search(ctx: typer.Context, query: str = typer.Argument(..., help="What to look for."),
           kb: str = typer.Option(..., "--kb", "-k", help="Knowledge base name.", autocompletion=complete_kb),
           top_k: int = typer.Option(None, "--top-k", "-n", help="How many chunks (retrieval.top_k)."),
           mode: str = typer.Option(None, "--mode", "-m", help="dense, bm25 or hybrid (retrieval.mode)."),
           filters: list[str] = typer.Option(None, "--filter", "-f", help="key=value on source, title, doc_id, page."),
           where: str = typer.Option(None, "--where", help="Raw filter in the store's own language: LanceDB SQL "
                                     "over the chunk columns (lance backend only)."),
           as_of: int = typer.Option(None, "--as-of", help="Search an earlier knowledge-base version."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Print the ranked chunks for a query, with scores and sources."""
    s = settings_from(ctx, retrieval__mode=mode)
    kbo = open_kb(s, kb)
    hits = kbo.search(query, k=top_k, filters=parse_filters(filters), where=where, as_of=as_of)
    if as_json:
        return print_json({"query": query, "hits": [h.to_dict() for h in hits], "timings": kbo.retriever.last_timings})
    if not hits:
        console.print("no results")
    for i, h in enumerate(hits, 1):
        extra = f" page {h.chunk.page}" if h.chunk.page else ""
        console.print(f"[bold]{i}.[/] score {h.score:.4f}  sim {h.similarity:.3f}  [cyan]{h.chunk.source}{extra}[/]")
        console.print("   " + h.chunk.text[:400].replace("\n", " ") + ("..." if len(h.chunk.text) > 400 else ""))
