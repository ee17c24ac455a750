"""A batch of requests -> one model call -> one reply per request: what a Ray Serve replica
runs under `@serve.batch`, and the in-process backend runs for a batch of one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ftlab.errors import FtlabError
from ftlab.tasks.base import AnswerOptions

log = logging.getLogger("ftlab.serve")


@dataclass
class Request:
    texts: list[Any]  # texts; sentence pairs; for a dialogue run conversations (lists of turns)
    options: AnswerOptions = field(default_factory=AnswerOptions)
    size: int = 1  # its share of a batch's budget (a Ray replica sets it: tokens, texts)


@dataclass
class Reply:
    """The answers to one request, or why there are none (`status`: an HTTP code)."""

    predictions: list[Any] = field(default_factory=list)
    chunks: list[int] | None = None
    batch_requests: int = 1  # requests answered by the same model call (the batch's size)
    status: int = 200
    error: str = ""


def answer_batch(model: Any, requests: list[Request]) -> list[Reply]:
    """Every request's texts in one call of `model.answer`. Where that fails, each request
    is answered alone, so one bad input fails its own request only; a request that fails
    alone gets its error (422 for bad input, 500 for anything else), and no exception leaves
    (a replica stays up whatever it is sent)."""
    try:
        answers = model.answer([text for request in requests for text in request.texts])
    except Exception as exc:
        if len(requests) > 1:
            return [answer_batch(model, [request])[0] for request in requests]
        if isinstance(exc, FtlabError):
            return [Reply(status=422, error=str(exc))]
        # the type only: a library's message may quote the input, which logs never hold
        log.error("prediction failed: %s", type(exc).__name__)
        return [Reply(status=500, error=f"the model failed on this input ({type(exc).__name__})")]
    replies, start = [], 0
    for request in requests:
        end = start + len(request.texts)
        records = answers.records[start:end]
        replies.append(
            Reply(
                predictions=[model.shaped(record, request.options) for record in records],
                chunks=answers.windows[start:end] if answers.windows is not None else None,
                batch_requests=len(requests),
            )
        )
        start = end
    return replies
