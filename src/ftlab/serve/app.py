"""The HTTP layer ftlab owns: a FastAPI app (schema, auth, limits, metrics, access logs)
over a backend that answers prediction requests: a Ray Serve deployment (ray_app.py) or the
model in this process (tests, the naive baseline)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ftlab.serve.answering import Reply
from ftlab.serve.answering import Request as ModelRequest
from ftlab.serve.metrics import Metrics
from ftlab.serve.schema import (
    ChatRequest,
    ChatResponse,
    Info,
    PredictRequest,
    PredictResponse,
    Problem,
    SearchRequest,
    SearchResponse,
)
from ftlab.tasks.base import AnswerOptions

access_log = logging.getLogger("ftlab.serve.access")

PREDICT = "/v1/predict"
CHAT = "/v1/chat"
SEARCH = "/v1/search"
# what needs the API key (probes and metrics hold no user data)
PROTECTED = (PREDICT, CHAT, SEARCH, "/info")
LOADING, READY, DRAINING = "loading", "ready", "draining"


@dataclass(frozen=True)
class Limits:
    """Request caps, checked before anything is tokenized."""

    max_body_bytes: int = 1_000_000
    max_inputs: int = 64
    max_chars: int = 20_000


@dataclass(frozen=True)
class Settings:
    limits: Limits = Limits()
    api_key: str | None = None  # None: no key asked (a loopback-only service)
    timeout_s: float = 30.0  # a prediction not answered by then gets 504
    retry_after_s: int = 1  # the Retry-After of a 503
    # predictions held at once (answering and waiting); past it 503 at once, before any
    # queue: a client over capacity learns it in milliseconds, not after a long wait
    max_in_flight: int | None = None


class Overloaded(Exception):
    """The backend cannot take this request now (its queue is full, or the replica that held
    it stopped): 503 with Retry-After, the message saying why."""

    def __init__(self, why: str = "the service is at capacity; retry shortly") -> None:
        super().__init__(why)


class Backend(Protocol):
    async def predict(self, request: ModelRequest) -> Reply: ...

    async def info(self) -> dict[str, Any]: ...


class Service:
    """What the app serves: its settings, metrics, phase and (once loaded) backend."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.phase = LOADING
        self.backend: Backend | None = None
        self.info: dict[str, Any] = {}
        self.in_flight = 0  # predictions accepted and not yet answered (draining waits for 0)

    async def attach(self, backend: Backend) -> None:
        """The backend is up: serve it."""
        self.info = await backend.info()
        self.backend = backend
        self.phase = READY


def _problem(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body read already, then what the client sends next
    (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(limits: Limits) -> JSONResponse:
    limit = limits.max_body_bytes
    return _problem(413, f"request body over {limit} bytes (serve.max_body_bytes={limit})")


class Guard:
    """ASGI middleware around every request: the API key and the body's size checked before
    the body is read or parsed, then the access log line (sizes, status, latency; never the
    body) and the request metrics."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        sizes = {"in": 0, "out": 0, "status": 500}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                sizes["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sizes["out"] += len(message.get("body", b""))
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refused = self._refused(path, headers)
        if refused is None:
            body = await self._body(receive)
            if body is None:
                refused = self._too_large()
            else:
                sizes["in"] = len(body)
        try:
            if refused is not None:
                await refused(scope, receive, counting_send)
            else:
                await self.app(scope, _replay(body, receive), counting_send)
        finally:  # an error the app's handlers answered (500) is logged and counted too
            self._record(scope["method"], path, sizes, time.perf_counter() - started)

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole body, read here so that no more than serve.max_body_bytes is ever held
        (a chunked body declares no size); None past that."""
        limit = self.service.settings.limits.max_body_bytes
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: the app sees an empty body and answers no one
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return None
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _refused(self, path: str, headers: dict[str, str]) -> Response | None:
        """401 without the right key, 413 for a declared body over the limit; else None."""
        key = self.service.settings.api_key
        if key and path in PROTECTED:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            # constant time: the comparison takes as long however much of the key matches
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), key.encode()
            ):
                return _problem(
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <key>' "
                    "(the key the server has in FTLAB_SERVE_API_KEY)",
                    {"WWW-Authenticate": "Bearer"},
                )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.service.settings.limits.max_body_bytes:
            return self._too_large()
        return None

    def _too_large(self) -> Response:
        return _too_large(self.service.settings.limits)

    def _record(self, method: str, path: str, sizes: dict[str, int], seconds: float) -> None:
        metrics, status = self.service.metrics, sizes["status"]
        # a path no route has (a scanner's guesses) is counted as one label, not one each
        label = path if path in ROUTES else "other"
        metrics.requests.labels(label, str(status)).inc()
        metrics.latency.labels(label, str(status)).observe(seconds)
        if status >= 400:
            metrics.errors.labels(str(status)).inc()
        access_log.info(
            "%s %s %d in=%dB out=%dB %.1fms",
            method,
            label,
            status,
            sizes["in"],
            sizes["out"],
            1000 * seconds,
        )


# pydantic's names for the branches of PredictRequest.inputs' union, in error locations
UNION_TAGS = ("str", "TextPair")
INPUTS_SHAPE = 'give a text, a list of texts, or a sentence pair {"text": ..., "text_pair": ...}'


def _where(location: tuple) -> list[str]:
    """An error's location as the request names it: without pydantic's union branch tags
    ('str', 'TextPair', 'list[str]') and the 'body' prefix."""
    return [
        str(part)
        for part in location
        if part != "body" and not (isinstance(part, str) and (part in UNION_TAGS or "[" in part))
    ]


def _field_error(exc: RequestValidationError) -> str:
    """The first problem of a request body, naming its field ('inputs.2', 'parameters.top_k');
    of the union's branches, the one that got deepest into the input."""
    errors = exc.errors()
    if not errors:
        return "the request body is not valid"
    deepest = max(len(_where(error.get("loc", ()))) for error in errors)
    first = next(error for error in errors if len(_where(error.get("loc", ()))) == deepest)
    if first.get("type") == "json_invalid":
        return "malformed JSON in the request body: " + str(first.get("ctx", {}).get("error", ""))
    where = ".".join(_where(first.get("loc", ()))) or "body"
    message = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden" and where.startswith("inputs."):
        message = "unknown field (a sentence pair has: text, text_pair)"
    elif first.get("type") == "extra_forbidden":
        message = "unknown field (valid: inputs, parameters{top_k, threshold, aggregation})"
    elif where == "inputs" and first.get("type") != "missing":
        message = INPUTS_SHAPE
    return f"field '{where}': {message}"


def _check_caps(inputs: list[Any], limits: Limits, field: str = "inputs") -> None:
    """`limits` on the texts of the request's `field` (checked before tokenizing); an input
    is a text, or a sentence pair (both of its texts checked)."""
    if not inputs:
        raise HTTPException(422, f"field '{field}': give a text or a non-empty list of texts")
    if len(inputs) > limits.max_inputs:
        raise HTTPException(
            413,
            f"{len(inputs)} inputs in one request; at most {limits.max_inputs} "
            f"(serve.max_inputs): send them in several requests",
        )
    for index, item in enumerate(inputs):
        texts = item.items() if isinstance(item, dict) else [("", item)]
        for key, text in texts:
            where = f"{field}.{index}" + (f".{key}" if key else "")
            if len(text) > limits.max_chars:
                raise HTTPException(
                    413,
                    f"{where} has {len(text)} characters; at most {limits.max_chars} "
                    "(serve.max_chars)",
                )
            if not text.strip():
                raise HTTPException(422, f"field '{where}': an empty text")


ROUTES = (PREDICT, CHAT, SEARCH, "/health", "/ready", "/info", "/metrics", "/docs", "/openapi.json")


def create_app(service: Service, lifespan: Callable[[FastAPI], Any] | None = None) -> FastAPI:
    """The service's FastAPI app over `service` (its backend may come later: /ready says)."""
    app = FastAPI(
        title="ftlab prediction service",
        description=(
            "A fine-tuned ftlab run behind HTTP. POST /v1/predict and GET /info need "
            "'Authorization: Bearer <key>' when the server has FTLAB_SERVE_API_KEY."
        ),
        lifespan=lifespan,
    )
    app.state.service = service
    errors = {code: {"model": Problem} for code in (401, 413, 422, 503, 504)}

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(422, _field_error(exc))

    @app.exception_handler(HTTPException)
    async def refused(_: Request, exc: HTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def failed(_: Request, exc: Exception) -> JSONResponse:
        access_log.error("internal error: %s", type(exc).__name__)
        return _problem(500, "internal error; the server's log has its type")

    def unavailable(why: str) -> HTTPException:
        return HTTPException(503, why, headers={"Retry-After": str(service.settings.retry_after_s)})

    async def answered(inputs: list[Any], options: AnswerOptions) -> Reply:
        """The backend's reply to `inputs` (texts, or conversations), or the HTTP error."""
        if service.phase != READY or service.backend is None:
            raise unavailable(f"the service is {service.phase}; retry shortly")
        cap = service.settings.max_in_flight
        if cap is not None and service.in_flight >= cap:
            raise unavailable(
                f"the service is at capacity ({cap} requests in flight: "
                "serve.max_ongoing_requests + serve.max_queued_requests per replica); "
                "retry shortly"
            )
        metrics = service.metrics
        metrics.queue.inc()
        service.in_flight += 1
        try:
            reply = await asyncio.wait_for(
                service.backend.predict(ModelRequest(inputs, options)), service.settings.timeout_s
            )
        except TimeoutError as exc:
            raise HTTPException(
                504, f"no answer within {service.settings.timeout_s:g} s (serve.timeout_s)"
            ) from exc
        except Overloaded as exc:
            raise unavailable(str(exc)) from exc
        finally:
            metrics.queue.dec()
            service.in_flight -= 1
        if reply.status != 200:
            raise HTTPException(reply.status, reply.error)
        metrics.inputs.inc(len(inputs))
        metrics.batch_size.observe(reply.batch_requests)
        return reply

    @app.post(PREDICT, response_model=PredictResponse, responses=errors)
    async def predict(body: PredictRequest) -> PredictResponse:
        """Predict every input: the run's labels and scores, as `ftlab.predict` gives them
        (a dialogue run: its reply to each text as a question)."""
        texts = body.texts()
        _check_caps(texts, service.settings.limits)
        reply = await answered(texts, AnswerOptions(**body.parameters.model_dump()))
        return PredictResponse(
            model=service.info["model"], predictions=reply.predictions, chunks=reply.chunks
        )

    def own_endpoint(name: str, verb: str) -> None:
        """A kind's own endpoint: 404 where the served run's kind has another."""
        if service.info and service.info.get("endpoint") != name:
            raise HTTPException(
                404, f"the served run ({service.info['kind']}) does not {verb}; POST {PREDICT}"
            )

    @app.post(CHAT, response_model=ChatResponse, responses={**errors, 404: {"model": Problem}})
    async def chat(body: ChatRequest) -> ChatResponse:
        """The assistant's next turn in the conversation (a run of task kind sft)."""
        own_endpoint("chat", "chat")
        messages = [turn.model_dump() for turn in body.messages]
        if messages[-1]["role"] != "user":
            raise HTTPException(422, "field 'messages': the last turn must be the user's")
        contents = [turn["content"] for turn in messages]
        _check_caps(contents, service.settings.limits, field="messages")
        reply = await answered([messages], AnswerOptions())
        return ChatResponse(model=service.info["model"], reply=reply.predictions[0]["reply"])

    @app.post(SEARCH, response_model=SearchResponse, responses={**errors, 404: {"model": Problem}})
    async def search(body: SearchRequest) -> SearchResponse:
        """The corpus texts a retrieval run ranks highest for each query (cosine scores)."""
        own_endpoint("search", "search")
        queries = body.queries()
        _check_caps(queries, service.settings.limits, field="query")
        reply = await answered(queries, AnswerOptions(top_k=body.top_k))
        results = [prediction["top"] for prediction in reply.predictions]
        return SearchResponse(model=service.info["model"], results=results)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is alive (it may still be loading)."""
        return {"status": "alive"}

    @app.get("/ready", responses={503: {"model": Problem}})
    async def ready() -> dict[str, str]:
        """200 once the model answers; 503 while it loads or the service drains."""
        if service.phase != READY:
            raise unavailable(f"the service is {service.phase}")
        return {"status": READY}

    @app.get("/info", response_model=Info, responses=errors)
    async def info() -> Info:
        """The served run: task, kind, labels, max length, backend, limits."""
        if not service.info:
            raise unavailable(f"the service is {service.phase}")
        limits = service.settings.limits
        return Info(**service.info, limits=vars(limits))

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text: requests, latency, batch sizes, queue length, errors by code."""
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(Guard, service=service)
    return app
