"""Run a blocking iterator (a generation) in a worker thread and consume it from the event loop.

The engines block: llama.cpp decodes token by token under the engine's lock. Iterating them on
the event loop would freeze every other request, so a worker thread runs the iterator and hands
each item to the loop through a queue. When the consumer stops early (the client went away),
the worker notices before its next item and closes the iterator, which releases the engine's
lock through its ``with`` block.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")


async def iterate_in_thread(
    make: Callable[[], Iterator[T]], executor: Executor | None = None
) -> AsyncIterator[T]:
    """Yield the items of ``make()``, produced in ``executor``; its exceptions re-raise here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, value: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop closed under us (server shutting down)
            stop.set()

    def work() -> None:
        it: Iterator[T] | None = None
        try:
            if stop.is_set():  # the client left while this request waited for a thread
                return
            it = make()
            for item in it:
                put("item", item)
                if stop.is_set():
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put("error", e)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            put("done", None)

    loop.run_in_executor(executor, work)
    try:
        while True:
            kind, value = await queue.get()
            if kind == "item":
                yield value  # type: ignore[misc]
            elif kind == "error":
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        stop.set()
