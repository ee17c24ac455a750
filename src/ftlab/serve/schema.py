"""The service's JSON: pydantic models of POST /v1/predict (the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Parameters(BaseModel):
    """How each answer is shaped (classification: top_k; multi-label: threshold; NER:
    aggregation)."""

    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(1, ge=1, le=1000, description="classification: the best k labels")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="multi-label: this threshold instead of the run's own"
    )
    aggregation: Literal["simple", "none"] = Field(
        "simple", description="NER: entities (simple) or each word's tag (none)"
    )


class TextPair(BaseModel):
    """The two texts of a sentence-pair run's input (its task.text_column pair, in order)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    text_pair: str


class PredictRequest(BaseModel):
    """One text or a list of texts (a sentence-pair run: pairs), and how to shape the
    answers."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"inputs": ["a gripping, well acted film"]}]},
    )

    inputs: str | TextPair | list[str | TextPair] = Field(
        ..., description="a text, or a list of texts; a sentence-pair run: {text, text_pair}"
    )
    parameters: Parameters = Field(default_factory=Parameters)

    def texts(self) -> list[str | dict[str, str]]:
        """The inputs, a pair as a dict (what a Ray replica is sent)."""
        items = self.inputs if isinstance(self.inputs, list) else [self.inputs]
        return [item if isinstance(item, str) else item.model_dump() for item in items]


class PredictResponse(BaseModel):
    """One prediction per input, in the inputs' order."""

    model: str = Field(..., description="the run (or ensemble) that answered")
    predictions: list[Any] = Field(
        ...,
        description=(
            "classification: [{label, score}] (top_k); multi-label: {labels: [{label, score}]}; "
            "NER: {entities: [{entity_group, word, start, end, score}]}; regression: {value}"
        ),
    )
    chunks: list[int] | None = Field(
        None, description="long inputs: how many windows (chunks) each input was scored in"
    )


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    """A conversation, its last turn the user's: the run (task kind sft) answers it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"messages": [{"role": "user", "content": "Where is my parcel?"}]}]
        },
    )

    messages: list[Turn] = Field(..., min_length=1, description="the turns so far, in order")


class ChatResponse(BaseModel):
    model: str = Field(..., description="the run that answered")
    reply: str = Field(..., description="the assistant's next turn")


class SearchRequest(BaseModel):
    """One query or a list of them: the corpus texts a retrieval run ranks highest for each."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "where is my parcel?"}]}
    )

    query: str | list[str] = Field(..., description="a query, or a list of queries")
    top_k: int = Field(10, ge=1, le=1000, description="results per query (at most task.top_k)")

    def queries(self) -> list[str]:
        return [self.query] if isinstance(self.query, str) else list(self.query)


class SearchResponse(BaseModel):
    model: str = Field(..., description="the run that answered")
    results: list[list[dict[str, Any]]] = Field(
        ..., description="per query, its best corpus texts: [{text, score}], best first"
    )


class Info(BaseModel):
    model: str
    task: str
    kind: str
    labels: list[str]
    max_length: int
    backend: str
    endpoint: str | None = Field(None, description="the run's own endpoint: chat or search")
    runs: list[str]
    limits: dict[str, int]


class Problem(BaseModel):
    """Every error answer: what is wrong, in one line."""

    error: str
