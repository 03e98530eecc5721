"""The FastAPI app behind ``ragtune serve``: the same pipelines as the CLI, over HTTP.

``create_app(settings)`` builds it; ``uvicorn`` (or any ASGI server) runs it in one process,
where the engines and knowledge-base handles are loaded once and shared by every request.
``serve.parallel`` N gives each llama.cpp engine N contexts, so N answers decode at once
(``generate/llamacpp.py`` says how the threads and adapters are shared).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ragtune import __version__
from ragtune.config import Settings, load_settings
from ragtune.kb import list_kbs, open_kb
from ragtune.pipeline import resolve_generator
from ragtune.serve import errors
from ragtune.serve.middleware import Gate
from ragtune.serve.routes import chat, classify, completions, embeddings, kb, web
from ragtune.serve.state import ServerState

log = logging.getLogger("ragtune.serve")


def warm_up(st: ServerState) -> None:
    """Load the generator (all ``serve.parallel`` contexts) and every KB's embedder and vectors,
    so the first question is not slow."""
    try:
        st.pipeline.engine(resolve_generator(st.settings, None))
        for name in list_kbs(st.settings):
            kbo = open_kb(st.settings, name)
            kbo.search("warm up", k=1)
    except Exception as e:  # noqa: BLE001 - a failed warm-up shows again, clearly, on the first request
        log.warning("warm-up failed: %s", e)


# uvicorn must not rewrite the peer address from X-Forwarded-For itself (its default trusts
# loopback, which let one local proxy-less client rotate addresses past the rate limits): the app
# does it, for the proxies named in serve.trusted_proxies only.
UVICORN_OPTIONS = {"proxy_headers": False, "server_header": False}


def create_app(settings: Settings | None = None, warm: bool = False) -> FastAPI:
    """The app for ``settings`` (default: ``load_settings()``); ``warm`` preloads models in the background."""
    settings = settings or load_settings()
    st = ServerState(settings)
    st.pipeline.contexts = settings.serve.parallel  # generations decoding at once (llama.cpp contexts)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if warm:
            asyncio.get_running_loop().run_in_executor(st.generation_pool, warm_up, st)
        yield
        st.close()

    app = FastAPI(
        title="ragtune",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="RAG and fine-tuned pipelines behind an OpenAI-compatible API.",
    )
    app.state.ragtune = st
    errors.install(app)
    for module in (chat, completions, embeddings, kb, classify, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    app.add_middleware(Gate, state=st)
    if settings.serve.trusted_proxies:  # runs before the Gate: the client it sees is the forwarded one
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.serve.trusted_proxies)
    if settings.serve.cors_origins:  # outermost, so preflight requests are answered before the key check
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.serve.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
