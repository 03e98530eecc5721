"""``ragtune serve``: the OpenAI-compatible API and the comparison web page, in one process."""

from __future__ import annotations

import ipaddress

import typer

from ragtune.cli.common import console, settings_from
from ragtune.config import Settings
from ragtune.errors import missing_extra

app = None  # ragtune.cli.main looks for it; this module registers through register()


def is_local_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_host(s: Settings) -> tuple[str, str | None]:
    """The address to listen on, and a notice to print when it is not what was asked for."""
    host = s.serve.host
    if s.serve.api_keys or s.serve.read_only_keys:
        return host, None
    if is_local_host(host):
        return host, (
            "no API key configured: serving this machine only; set serve.api_keys "
            "(e.g. RAGTUNE_SERVE__API_KEYS=sk-...) to open it to the network"
        )
    return "127.0.0.1", (
        f"no API key configured: listening on 127.0.0.1 only, not {host}; set serve.api_keys "
        "(e.g. RAGTUNE_SERVE__API_KEYS=sk-...) to serve other machines"
    )


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, "--host", help="Address to bind (serve.host; 127.0.0.1 without keys)."),
    port: int = typer.Option(None, "--port", "-p", help="Port (serve.port, default 8000)."),
    warm: bool = typer.Option(True, "--warm/--no-warm", help="Load models at start, not at first use."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
):
    """Serve the pipelines over an OpenAI-compatible API, with a web page at / to compare them."""
    s = settings_from(ctx, serve__host=host, serve__port=port)
    try:
        import uvicorn

        from ragtune.serve.app import UVICORN_OPTIONS, create_app  # lazy: fastapi (ragtune[serve])
    except ModuleNotFoundError as e:
        raise missing_extra(e.name or "fastapi", "serve") from e
    bind, notice = bind_host(s)
    if notice:
        console.print(f"[yellow]{notice}[/]", highlight=False)
    roles = f"{len(s.serve.api_keys)} read-write, {len(s.serve.read_only_keys)} read-only API keys"
    shown = f"[{bind}]" if ":" in bind else bind
    console.print(
        f"ragtune serving {s.data_dir} on [bold]http://{shown}:{s.serve.port}/[/] ({roles}); "
        f"OpenAI base URL http://{shown}:{s.serve.port}/v1",
        highlight=False,
    )
    uvicorn.run(create_app(s, warm=warm), host=bind, port=s.serve.port, log_level=log_level,
                timeout_graceful_shutdown=5, **UVICORN_OPTIONS)


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
