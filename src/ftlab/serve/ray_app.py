"""The service on Ray Serve: a `Model` deployment holds the model and batches requests
(`@serve.batch`), with replicas, autoscaling, back-pressure and graceful shutdown from Ray;
a `Gateway` deployment is the FastAPI app (ingress) that calls it through a handle.

Local Ray by default; `serve.address=ray://HOST:10001` runs the same deployments on a Ray
cluster (KubeRay on Kubernetes), which needs ftlab installed on its nodes and the run
directory readable there.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from omegaconf import DictConfig
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError

from ftlab.errors import boundary
from ftlab.serve.answering import Reply, Request, answer_batch
from ftlab.serve.app import DRAINING, Overloaded, Service, Settings, create_app

log = logging.getLogger("ftlab.serve")

APP_NAME = "ftlab"
MODEL_DEPLOYMENT = "Model"


def _size_of(requests: list[Request]) -> int:
    return sum(request.size for request in requests)


class _BudgetInTokens(logging.Filter):
    """Ray Serve warns when `max_batch_size` exceeds `max_ongoing_requests`, taking the size
    for a count of requests; here it is a token budget, so the warning is wrong: dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("`max_batch_size`")


@serve.deployment(name=MODEL_DEPLOYMENT)
class Model:
    """One replica: the run's model (ServedModel), fed batches of requests."""

    def __init__(
        self,
        run: Any,
        backend: str,
        threads: int | None,
        corpus: str | None,
        batch_texts: int,
        batch_tokens: int,
        wait_s: float,
    ) -> None:
        from ftlab.serve.model import ServedModel

        self.model = ServedModel(run, backend, threads, corpus)
        logging.getLogger("ray.serve").addFilter(_BudgetInTokens())
        # a batch closes at serve.max_batch_tokens tokens or serve.max_batch_inputs texts,
        # whichever comes first (each text costs at least budget / max_batch_inputs), or
        # once it has waited serve.batch_wait_timeout_s
        self.budget, self.per_text = batch_tokens, max(1, batch_tokens // batch_texts)
        self.batched.set_max_batch_size(batch_tokens)
        self.batched.set_batch_wait_timeout_s(wait_s)

    async def predict(self, request: Request) -> Reply:
        """The request's share of a batch (its tokens, or its texts' share, the larger; a
        request over the whole budget is a batch alone), then its place in one."""
        tokens = self.model.token_count(request.texts)
        request.size = min(self.budget, max(tokens, self.per_text * len(request.texts)))
        return await self.batched(request)

    @serve.batch(max_batch_size=8192, batch_wait_timeout_s=0.005, batch_size_fn=_size_of)
    async def batched(self, requests: list[Request]) -> list[Reply]:
        # in a thread: the replica's event loop keeps taking requests (and health checks)
        return await asyncio.to_thread(answer_batch, self.model, requests)

    def info(self) -> dict[str, Any]:
        return self.model.info()


class RayBackend:
    """The Model deployment through its handle. Ray's full queue, and a replica that stopped
    while it held the request (Ray Serve starts another), become Overloaded: 503 with
    Retry-After, so the client knows that its request was not answered and may retry."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def predict(self, request: Request) -> Reply:
        try:
            return await self.handle.predict.remote(request)
        except BackPressureError as exc:
            raise Overloaded from exc
        except RayActorError as exc:  # died, or unreachable: never a silent loss or a 500
            raise Overloaded("a model replica stopped while answering; retry shortly") from exc

    async def info(self) -> dict[str, Any]:
        return await self.handle.info.remote()


# the gateway replica's service (each replica is a process of its own): what drain() marks
_services: list[Service] = []


def gateway_app(settings: Settings) -> FastAPI:
    """The ingress replica's app (built on the replica): the Model deployment's handle."""
    service = Service(settings)
    _services.append(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        handle = serve.get_deployment_handle(MODEL_DEPLOYMENT, app_name=APP_NAME)
        await service.attach(RayBackend(handle))
        yield
        service.phase = DRAINING

    return create_app(service, lifespan)


def application(cfg: DictConfig, settings: Settings, run: Any, threads: int | None) -> Any:
    """The two deployments, bound with the config's replicas, batching and limits."""
    s = cfg.serve
    scaling: dict[str, Any] = {"num_replicas": int(s.num_replicas)}
    if s.max_replicas is not None:
        scaling = {
            "autoscaling_config": {
                "min_replicas": int(s.num_replicas),
                "max_replicas": int(s.max_replicas),
                "target_ongoing_requests": float(s.target_ongoing_requests),
            }
        }
    model = Model.options(
        **scaling,
        # a replica takes what it may hold and queue (the gateway's app refuses past that,
        # at once, with Retry-After): requests wait in its batch queue, a plain FIFO, not
        # in the handle's router, which probes the replicas again and again for room
        # (measured: throughput fell from 55 to 22 requests/s between 16 and 64 clients)
        max_ongoing_requests=int(s.max_ongoing_requests) + int(s.max_queued_requests),
        max_queued_requests=-1,
        graceful_shutdown_timeout_s=float(s.drain_s),
    ).bind(
        run,
        str(s.backend),
        threads,
        cfg.get("corpus"),  # absolute (command.py): a replica may start in another directory
        int(s.max_batch_inputs),
        int(s.max_batch_tokens),
        float(s.batch_wait_timeout_s),
    )

    def build_gateway_app() -> FastAPI:  # a plain function: what Ray Serve calls a builder
        return gateway_app(settings)

    @serve.ingress(build_gateway_app)
    class Gateway:
        def __init__(self, model: Any) -> None:
            self.model = model  # bound so that the application deploys Model with it

        def drain(self) -> int:
            """From now on /ready and new predictions answer 503 (Retry-After); returns the
            predictions still in flight."""
            for service in _services:
                service.phase = DRAINING
            return sum(service.in_flight for service in _services)

    gateway = serve.deployment(
        Gateway,
        name="Gateway",
        # it awaits the model's replicas: no CPU of its own to reserve (on a 2-core machine
        # two model replicas would otherwise leave it unscheduled)
        ray_actor_options={"num_cpus": 0},
        # the gateway only awaits the model, and its app refuses past what the replicas take:
        # at once, with Retry-After. Ray's proxy hands it ten times that, so that requests
        # over capacity reach the app to be refused instead of waiting in the proxy's router
        # (at twice, 256 clients waited 1.4 s there for their 503); past ten times a flood
        # is refused by the proxy itself, without Retry-After
        max_ongoing_requests=10 * int(settings.max_in_flight or 1),
        max_queued_requests=int(s.max_queued_requests),
        graceful_shutdown_timeout_s=float(s.drain_s),
    )
    return gateway.bind(model)


def start(
    cfg: DictConfig, settings: Settings, run: Any, threads: int | None, stop: threading.Event
) -> None:
    """Ray (local, or the cluster at serve.address), Serve's HTTP proxy on host:port, and
    the application; returns once its replicas are up. SIGINT / SIGTERM set `stop`."""
    import ray

    s = cfg.serve
    with boundary(
        "starting Ray" + (f" at {s.address}" if s.address else ""),
        "check serve.address (ray://HOST:10001), or leave it null for a local Ray",
    ):
        ray.init(address=s.address or None, logging_level=logging.WARNING, include_dashboard=False)
        # after ray.init, which sets handlers of its own (SIGTERM would abort the process)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        serve.start(http_options={"host": str(s.host), "port": int(s.port)})
    with boundary("starting the service's deployments", "see the Ray logs above"):
        serve.run(application(cfg, settings, run, threads), name=APP_NAME, route_prefix="/")


def serve_on_ray(cfg: DictConfig, settings: Settings, run: Any, threads: int | None) -> None:
    """Serve until SIGINT / SIGTERM, then shut Ray Serve down gracefully (replicas finish
    their requests in flight, up to serve.drain_s)."""
    stop = threading.Event()
    start(cfg, settings, run, threads, stop)
    print(
        f"ftlab.serve: http://{cfg.serve.host}:{cfg.serve.port} (Ray Serve, "
        f"{cfg.serve.num_replicas} replica(s), backend={cfg.serve.backend})",
        flush=True,
    )
    stop.wait()
    log.info("draining: finishing requests in flight (serve.drain_s=%s)", cfg.serve.drain_s)
    import ray

    with boundary("shutting Ray Serve down", "the Ray cluster may be gone already"):
        # new requests get 503 at once; then the application goes, while the HTTP proxy
        # still carries the answers back: its replicas finish the requests they hold
        # (graceful_shutdown_timeout_s = serve.drain_s)
        gateway = serve.get_app_handle(APP_NAME)
        deadline = time.monotonic() + float(cfg.serve.drain_s)
        while gateway.drain.remote().result() and time.monotonic() < deadline:
            time.sleep(0.1)
        serve.delete(APP_NAME)
        serve.shutdown()
        ray.shutdown()
    log.info("stopped")
