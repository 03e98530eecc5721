"""``ragtune delete``: remove one document from a knowledge base, and say what the folder still holds."""

from __future__ import annotations

from pathlib import Path

import typer

from ragtune.cli.common import complete_kb, console, print_json, settings_from
from ragtune.kb import open_kb


def still_on_disk_note(source: str) -> str | None:
    """The line that warns a deleted document comes back with the next ingest, when its file is still there."""
    path = Path(source)
    if not path.is_file():
        return None
    return (f"the file is still in {path.parent}; the next `ragtune ingest` of that folder adds it back — "
            "delete the file or use --sync")


def delete(ctx: typer.Context, kb: str = typer.Option(..., "--kb", "-k", help="Knowledge base name.",
                                                      autocompletion=complete_kb),
           source: str = typer.Option(..., "--source", "-s", help="Path of the document, as ingested."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Remove a document from a knowledge base (a new version; older ones stay queryable).

    The file itself stays where it is: delete it too, or the next ingest of its folder adds it back.
    """
    s = settings_from(ctx)
    rep = open_kb(s, kb).delete_source(source)
    note = still_on_disk_note(rep.removed[0])
    if as_json:
        return print_json({"kb": kb, **rep.to_dict(), "note": note})
    console.print(f"{kb}: removed {rep.removed[0]} ({rep.chunks_removed} chunks); version {rep.version}",
                  markup=False, highlight=False, soft_wrap=True)
    if note:
        console.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
