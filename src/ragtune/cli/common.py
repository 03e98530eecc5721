"""What every command shares: the settings from global options, consoles, JSON output."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperOption

from ragtune.config import Settings, load_settings

console = Console()
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
