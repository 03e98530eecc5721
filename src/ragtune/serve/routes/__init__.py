"""The API's routes, one module per concern: chat, knowledge bases, classify, web page and ops."""

from __future__ import annotations

from fastapi import Request

from ragtune.serve.auth import Principal
from ragtune.serve.state import ServerState


def state(request: Request) -> ServerState:
    return request.app.state.ragtune


def principal(request: Request) -> Principal:
    return request.scope["state"]["principal"]
