"""The model in this process behind the app, one request at a time: the tests' backend, the
naive baseline of the load benchmark, and `serve.engine=local` (no Ray) under uvicorn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ftlab.errors import FtlabError
from ftlab.serve.answering import Reply, Request, answer_batch
from ftlab.serve.app import DRAINING, Backend, Service, Settings, create_app


class LocalBackend:
    """ServedModel in a worker thread (the event loop keeps answering /health and /ready),
    one request at a time: the same answer_batch a Ray replica runs, for a batch of one."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._lock = threading.Lock()

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            return answer_batch(self.model, [request])[0]

    async def predict(self, request: Request) -> Reply:
        return await asyncio.to_thread(self._answer, request)

    async def info(self) -> dict[str, Any]:
        return self.model.info()


def loading_app(settings: Settings, load: Callable[[], Backend]) -> tuple[FastAPI, list]:
    """An app that starts answering at once (/health 200, /ready 503) and loads its backend
    in a thread; the list receives the FtlabError of a load that fails."""
    service = Service(settings)
    failures: list[FtlabError] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def load_backend() -> None:
            try:
                await service.attach(await asyncio.to_thread(load))
            except FtlabError as exc:
                failures.append(exc)

        loading = asyncio.create_task(load_backend())
        yield
        service.phase = DRAINING
        loading.cancel()

    return create_app(service, lifespan), failures


def serve_here(
    settings: Settings, load: Callable[[], Backend], host: str, port: int, drain_s: float
) -> None:
    """uvicorn on host:port until SIGINT / SIGTERM (requests in flight get `drain_s` to
    finish); a model that fails to load stops it with its one-line error."""
    import uvicorn

    app, failures = loading_app(settings, load)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # ftlab's logging (stderr); the access log is the app's own
        access_log=False,
        timeout_graceful_shutdown=int(drain_s),
    )
    server = uvicorn.Server(config)

    async def watch() -> None:
        while not failures and not server.should_exit:
            await asyncio.sleep(0.2)
        server.should_exit = True

    async def main() -> None:
        watcher = asyncio.create_task(watch())
        await server.serve()
        watcher.cancel()

    asyncio.run(main())
    if failures:
        raise failures[0]
