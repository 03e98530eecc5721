"""What every command shares: the settings from global options, consoles, JSON output."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperOption

from ragtune.config import Settings, load_settings
from ragtune.errors import RagtuneError

PIPED_WIDTH = 400  # a table piped to a file is as wide as its content up to this, not cut at 80 columns


def _width(stream: Any) -> int | None:
    """None (rich measures the terminal, or reads COLUMNS) on a terminal; ``PIPED_WIDTH`` when piped."""
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return PIPED_WIDTH


console = Console(width=_width(sys.stdout))
err = Console(stderr=True, soft_wrap=True)

_display_type_rich = TyperOption.display_type_rich


def _flag_without_type(self: TyperOption, ctx: Any) -> str | None:
    """Typer (0.29) labels on/off flags ``--quick <bool>`` in help, as if they took a value; they do not."""
    if self.is_flag and not self.count and self.metavar is None:
        return None
    return _display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_without_type  # every command's help, from one place


def settings_from(ctx: typer.Context, **fields: Any) -> Settings:
    """Settings of this invocation: the global --config/--set/--data-dir plus command flags."""
    root = ctx.find_root()
    obj = root.obj or {}
    return load_settings(obj.get("config"), obj.get("overrides"), data_dir=obj.get("data_dir"), **fields)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def parse_filters(items: list[str] | None) -> dict[str, str]:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise typer.BadParameter(f"{it!r}: expected key=value, e.g. title=Paris")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# ---- shell completion (typer ``autocompletion=`` callbacks) ------------------------------------------
def complete_mode(incomplete: str) -> list[str]:
    """``--mode`` values of ``ragtune ask``: the pipeline modes that start with what was typed."""
    from ragtune.pipeline import MODES  # lazy: the pipeline (and its imports) only when completing

    return [m for m in MODES if m.startswith(incomplete)]


def complete_compare_mode(incomplete: str) -> list[str]:
    """``--mode`` values of a comparison's answers (``runs show --answers``): every QA and classification mode."""
    from ragtune.evaluate.experiment import CLS_MODES, CLS_VARIANTS  # lazy: the evaluate layer only when completing
    from ragtune.evaluate.modes import QA_MODES, QA_VARIANTS  # lazy: as above

    names = dict.fromkeys(QA_MODES + QA_VARIANTS + CLS_MODES + CLS_VARIANTS)  # in table order, once each
    return [m for m in names if m.startswith(incomplete)]


def complete_kb(ctx: typer.Context, incomplete: str) -> list[str]:
    """Knowledge-base names in the data folder (from ``--data-dir``/``--config`` as typed so far)."""
    from ragtune.kb import list_kbs  # lazy: the store layer only when completing a KB name

    params = ctx.find_root().params
    try:
        settings = load_settings(params.get("config"), params.get("overrides") or [],
                                 data_dir=str(params["data_dir"]) if params.get("data_dir") else None)
        return [n for n in list_kbs(settings) if n.startswith(incomplete)]
    except (RagtuneError, OSError):  # a completion never prints a traceback into the user's shell
        return []
