"""`python -m ftlab.serve`: the FastAPI app over the run's model in this process (answers equal
ftlab.predict's, auth, limits, bad JSON, readiness, metrics), and the app served by uvicorn
over loopback; the Ray Serve start is in test_serve_ray.py (slow)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from datasets import Dataset
from helpers import reloaded_records, tiny_run
from test_predict import INTENT  # the tiny intent run of ftlab.predict's tests

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient

from ftlab.serve.app import Limits, Service, Settings, create_app
from ftlab.serve.local import LocalBackend, loading_app
from ftlab.serve.model import ServedModel

KEY = "s3cret-key-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}
FAST = INTENT[-3:]  # no evaluation or checkpoints while training: quick


@pytest.fixture(scope="module")
def intent_run(tmp_path_factory, tiny_model_dir: Path, intent_files: dict) -> Path:
    return tiny_run(tmp_path_factory.mktemp("serve-intent"), tiny_model_dir, intent_files, *INTENT)


QUESTIONS = [
    "What is the tallest mountain in the world ?",
    "Who wrote Hamlet ?",
    "How far is it from Denver to Aspen ?",
    "When did the Berlin Wall fall ?",
]


def predicted(run_dir: Path, texts: list[str]) -> list[dict]:
    """ftlab.predict's records for `texts` (its path: load, prediction inputs, Trainer)."""
    from ftlab.inference.runs import load_run

    run = load_run(run_dir)
    inputs = run.task.prediction_inputs(
        Dataset.from_dict({run.task.input_text_column: texts}), run.tokenizer
    )
    return reloaded_records(run_dir, inputs)


def client_for(model: ServedModel, settings: Settings | None = None) -> TestClient:
    """The app over `model` in this process (TestClient: the ASGI app, no socket)."""
    service = Service(settings or Settings(api_key=KEY))
    asyncio.run(service.attach(LocalBackend(model)))
    return TestClient(create_app(service))


@pytest.fixture(scope="module")
def intent(intent_run: Path) -> ServedModel:
    return ServedModel(str(intent_run))


@pytest.fixture(scope="module")
def client(intent: ServedModel) -> TestClient:
    return client_for(
        intent, Settings(Limits(max_body_bytes=4000, max_inputs=4, max_chars=200), KEY)
    )


def post(client: TestClient, body: object, headers: dict | None = None):
    return client.post("/v1/predict", json=body, headers=AUTH if headers is None else headers)


def test_classification_answers_equal_ftlab_predict(client: TestClient, intent_run: Path) -> None:
    expected = predicted(intent_run, QUESTIONS)
    answer = post(client, {"inputs": QUESTIONS, "parameters": {"top_k": 3}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == intent_run.name and body["chunks"] is None
    for served, record in zip(body["predictions"], expected, strict=True):
        assert len(served) == 3
        assert served[0]["label"] == record["label"]
        assert [s["score"] for s in served] == sorted(record["scores"].values(), reverse=True)[:3]
        for s in served:
            assert s["score"] == pytest.approx(record["scores"][s["label"]], abs=1e-4)
    # one text, not a list: one prediction, the best label only (top_k 1)
    single = post(client, {"inputs": QUESTIONS[1]}).json()["predictions"]
    assert len(single) == 1 and single[0][0]["label"] == expected[1]["label"]


def test_api_key_is_required(client: TestClient) -> None:
    body = {"inputs": "Who wrote Hamlet ?"}
    assert post(client, body, headers={}).status_code == 401
    wrong = post(client, body, headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == 401 and "API key" in wrong.json()["error"]
    assert post(client, body, headers={"Authorization": KEY}).status_code == 401  # no scheme
    assert post(client, body).status_code == 200
    assert client.get("/info").status_code == 401
    # the key is checked before the body is read: a bad body without the key is still 401
    raw = client.post("/v1/predict", content=b"{not json", headers={})
    assert raw.status_code == 401
    # probes and metrics need no key
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200


def test_each_limit_is_a_413_naming_it(client: TestClient) -> None:
    too_many = post(client, {"inputs": ["a question ?"] * 5})
    assert too_many.status_code == 413 and "serve.max_inputs" in too_many.json()["error"]
    too_long = post(client, {"inputs": ["ok ?", "x" * 201]})
    assert too_long.status_code == 413
    assert "inputs.1" in too_long.json()["error"] and "serve.max_chars" in too_long.json()["error"]
    big = client.post("/v1/predict", content=b'{"inputs": "' + b"y" * 5000 + b'"}', headers=AUTH)
    assert big.status_code == 413 and "serve.max_body_bytes" in big.json()["error"]
    # a body that hides its size (chunked, no Content-Length) is cut off too
    chunked = client.post(
        "/v1/predict", content=iter([b'{"inputs": "', b"z" * 5000, b'"}']), headers=AUTH
    )
    assert chunked.status_code == 413
    assert post(client, {"inputs": ["ok ?"] * 4}).status_code == 200  # at the limits: fine


def test_bad_json_and_wrong_fields_are_422_naming_them(client: TestClient) -> None:
    cases = {
        b"{not json": "malformed JSON",
        b'{"text": "hi"}': "field 'inputs'",
        b'{"inputs": 3}': "field 'inputs",
        b'{"inputs": ["a", 3]}': "field 'inputs",
        b'{"inputs": "a", "parameters": {"top_k": 0}}': "field 'parameters.top_k'",
        b'{"inputs": "a", "parameters": {"aggregation": "max"}}': "field 'parameters.aggregation'",
        b'{"inputs": "a", "parameters": {"topk": 2}}': "field 'parameters.topk'",
        b'{"inputs": []}': "field 'inputs'",
        b'{"inputs": ["fine", "   "]}': "field 'inputs.1'",
    }
    for body, named in cases.items():
        answer = client.post(
            "/v1/predict", content=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (body, answer.text)
        assert named in answer.json()["error"], (body, answer.json())
    # odd but valid text is answered, not a crash: the service stays up
    odd = post(client, {"inputs": ["\x00\ud7ff emoji 🙂 ¿qué?", "ǅ" * 200]})
    assert odd.status_code == 200, odd.text
    assert client.get("/ready").status_code == 200


def test_metrics_count_requests_errors_and_batches(client: TestClient) -> None:
    post(client, {"inputs": "Who wrote Hamlet ?"})
    post(client, {"inputs": "Who ?"}, headers={})
    text = client.get("/metrics").text
    assert 'ftlab_serve_requests_total{code="200",path="/v1/predict"}' in text
    assert 'ftlab_serve_errors_total{code="401"}' in text
    assert 'ftlab_serve_request_seconds_count{code="401",path="/v1/predict"}' in text
    assert "ftlab_serve_batch_size_count" in text
    assert "ftlab_serve_queue_length 0.0" in text


def test_chat_and_search_are_404_for_a_classifier(client: TestClient) -> None:
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    refused = client.post("/v1/chat", json=chat, headers=AUTH)
    assert refused.status_code == 404 and "does not chat; POST /v1/predict" in refused.text
    searched = client.post("/v1/search", json={"query": "hi"}, headers=AUTH)
    assert searched.status_code == 404 and "does not search" in searched.text


def test_info_and_openapi(client: TestClient, intent: ServedModel) -> None:
    info = client.get("/info", headers=AUTH).json()
    assert info["labels"] == intent.task.label_list and info["backend"] == "torch"
    assert info["kind"] == "SequenceClassificationTask" and info["limits"]["max_inputs"] == 4
    schema = client.get("/openapi.json").json()
    assert "/v1/predict" in schema["paths"] and "PredictRequest" in schema["components"]["schemas"]


def test_access_log_has_sizes_and_latency_never_the_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Where does Mister Unmistakable live ?"
    with caplog.at_level("INFO", logger="ftlab.serve"):
        assert post(client, {"inputs": secret}).status_code == 200
        post(client, {"inputs": [secret, 7]})
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("POST /v1/predict 200 in=") and "ms" in line for line in lines)
    assert not any("Unmistakable" in line for line in lines)


class Gated:
    """A backend that holds each request until released: the service's capacity, filled."""

    def __init__(self, inner: LocalBackend) -> None:
        self.inner = inner
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def predict(self, request):
        self.entered.set()
        await self.release.wait()
        return await self.inner.predict(request)

    async def info(self) -> dict:
        return await self.inner.info()


@pytest.mark.parametrize("cap", [1, 2])
def test_over_capacity_is_refused_at_once_with_retry_after(intent: ServedModel, cap: int) -> None:
    import httpx

    async def scenario() -> tuple[httpx.Response, httpx.Response, float, httpx.Response]:
        service = Service(Settings(max_in_flight=cap))
        backend = Gated(LocalBackend(intent))
        await service.attach(backend)
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
            body = {"inputs": QUESTIONS[0]}
            held = asyncio.create_task(client.post("/v1/predict", json=body))
            await backend.entered.wait()
            second = asyncio.create_task(client.post("/v1/predict", json=body))
            started = time.perf_counter()
            done, _ = await asyncio.wait({second}, timeout=2)
            took = time.perf_counter() - started
            backend.release.set()
            first, second_answer = await held, await second
            after = await client.post("/v1/predict", json=body)  # capacity back
        return first, second_answer, took if done else float("inf"), after

    first, second, took, after = asyncio.run(scenario())
    assert first.status_code == 200 and after.status_code == 200
    if cap == 1:
        assert second.status_code == 503 and second.headers["Retry-After"] == "1"
        assert "at capacity (1 requests in flight" in second.json()["error"]
        assert took < 1.0  # refused while the first is still held, not after it
    else:  # negative control: room for two, so the second waits and is answered
        assert second.status_code == 200 and took == float("inf")


def test_ready_is_503_while_the_model_loads(intent_run: Path) -> None:
    release = threading.Event()

    def slow_load() -> LocalBackend:
        release.wait(30)
        return LocalBackend(ServedModel(str(intent_run)))

    app, failures = loading_app(Settings(), slow_load)
    with TestClient(app) as loading:
        assert loading.get("/health").status_code == 200
        waiting = loading.get("/ready")
        assert waiting.status_code == 503 and waiting.headers["Retry-After"] == "1"
        early = loading.post("/v1/predict", json={"inputs": "Who ?"})
        assert early.status_code == 503 and "loading" in early.json()["error"]
        release.set()
        for _ in range(100):
            if loading.get("/ready").status_code == 200:
                break
            time.sleep(0.1)
        assert loading.get("/ready").status_code == 200
        assert loading.post("/v1/predict", json={"inputs": "Who ?"}).status_code == 200
    assert not failures


def test_a_sentence_pair_run_takes_pairs_and_answers_as_ftlab_predict(
    tmp_path_factory, tiny_model_dir: Path, pair_intent_files: dict, client: TestClient
) -> None:
    from ftlab.inference.runs import load_run

    run = tiny_run(
        tmp_path_factory.mktemp("pair-run"),
        tiny_model_dir,
        pair_intent_files,
        *INTENT,
        "task.text_column=[text,context]",
    )
    pairs = [
        {"text": QUESTIONS[0], "text_pair": "what is asked about loc"},
        {"text": QUESTIONS[0], "text_pair": "what is asked about hum"},  # the second counts
    ]
    loaded = load_run(run)
    rows = Dataset.from_dict(
        {"text": [p["text"] for p in pairs], "context": [p["text_pair"] for p in pairs]}
    )
    expected = reloaded_records(run, loaded.task.prediction_inputs(rows, loaded.tokenizer))
    with client_for(ServedModel(str(run))) as served:
        answer = post(served, {"inputs": pairs, "parameters": {"top_k": 50}})
        assert answer.status_code == 200, answer.text
        for got, record in zip(answer.json()["predictions"], expected, strict=True):
            assert {g["label"]: g["score"] for g in got} == pytest.approx(
                record["scores"], abs=1e-5
            )
        assert answer.json()["predictions"][0] != answer.json()["predictions"][1]
        one = post(served, {"inputs": pairs[0]})  # one pair alone, as one text alone
        assert one.status_code == 200 and len(one.json()["predictions"]) == 1
        text = post(served, {"inputs": QUESTIONS[0]})
        assert text.status_code == 422 and "sentence pairs (text, context)" in text.json()["error"]
        empty = post(served, {"inputs": [{"text": "Who ?", "text_pair": " "}]})
        assert empty.status_code == 422 and "inputs.0.text_pair" in empty.json()["error"]
        extra = post(served, {"inputs": [{"text": "Who ?", "pair": "x"}]})
        assert extra.status_code == 422 and "text_pair" in extra.json()["error"]
    # and a one-text run refuses a pair (422 naming the shape), not a crash
    refused = post(client, {"inputs": pairs[0]})
    assert refused.status_code == 422 and "one text per input" in refused.json()["error"]


def test_multilabel_ner_and_regression_answers_equal_ftlab_predict(
    tmp_path_factory, tiny_model_dir: Path, multilabel_files: dict, ner_run: Path, trec_rows: list
) -> None:
    multi = tiny_run(
        tmp_path_factory.mktemp("serve-multilabel"),
        tiny_model_dir,
        multilabel_files,
        "task=legal_multilabel",
        "task.label_column=labels",
        "task.max_seq_length=64",
        "task.threshold=tune",  # served with the thresholds the run chose on validation
        "trainer.max_steps=30",
        "optimizer.learning_rate=3e-3",
        *FAST,
    )
    texts = [QUESTIONS[0] + " " + QUESTIONS[1], QUESTIONS[2]]
    expected = predicted(multi, texts)
    with client_for(ServedModel(str(multi))) as served:
        body = post(served, {"inputs": texts}).json()
        for answer, record in zip(body["predictions"], expected, strict=True):
            assert [x["label"] for x in answer["labels"]] == sorted(
                record["label"], key=lambda label: -record["scores"][label]
            )
        everything = post(served, {"inputs": texts, "parameters": {"threshold": 0.0}}).json()
        assert all(
            len(a["labels"]) == len(record["scores"])
            for a, record in zip(everything["predictions"], expected, strict=True)
        )

    sentences = ["John Smith flew to Paris with Mary Jones .", "EU rejects German call ."]
    expected = predicted(ner_run, sentences)
    with client_for(ServedModel(str(ner_run))) as served:
        body = post(served, {"inputs": sentences}).json()
        found = [e for answer in body["predictions"] for e in answer["entities"]]
        assert found, "the tiny NER run finds entities in these sentences"
        for answer, record, text in zip(body["predictions"], expected, sentences, strict=True):
            assert [(e["entity_group"], e["start"], e["end"]) for e in answer["entities"]] == [
                (e["entity"], e["start"], e["end"]) for e in record["entities"]
            ]
            assert all(text[e["start"] : e["end"]] == e["word"] for e in answer["entities"])
        tags = post(served, {"inputs": sentences, "parameters": {"aggregation": "none"}}).json()
        assert tags["predictions"][0]["tags"] == expected[0]["tags"]

    from test_regression import _score_files

    scored = tiny_run(
        tmp_path_factory.mktemp("serve-regression"),
        tiny_model_dir,
        _score_files(tmp_path_factory.mktemp("serve-scores"), trec_rows),
        "task=sentiment_intensity",
        "task.label_column=score",
        "trainer.max_steps=20",
        *FAST,
    )
    expected = predicted(scored, QUESTIONS)
    with client_for(ServedModel(str(scored))) as served:
        body = post(served, {"inputs": QUESTIONS}).json()
        values = [answer["value"] for answer in body["predictions"]]
        assert values == pytest.approx([record["score"] for record in expected], abs=1e-4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_over_loopback_by_the_command(intent_run: Path, tmp_path: Path) -> None:
    """`python -m ftlab.serve serve.engine=local`: a real server process and an HTTP client."""
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftlab.serve",
            f"run={intent_run}",
            "serve.engine=local",
            f"serve.port={port}",
        ],
        cwd=tmp_path,
        env={**os.environ, "FTLAB_SERVE_API_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.3)
        answer = httpx.post(f"{base}/v1/predict", json={"inputs": QUESTIONS}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == len(QUESTIONS)
        assert httpx.post(f"{base}/v1/predict", json={"inputs": "x"}).status_code == 401
        assert 'path="/v1/predict"' in httpx.get(f"{base}/metrics").text
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # uvicorn finishes what it holds, then ends by the signal it was sent, as Unix tools do
    assert server.returncode in (0, -15) and "Application shutdown complete" in output, output
    assert "Where" not in output  # the access log never holds the text


def test_bad_config_is_one_line(tmp_path: Path, intent_run: Path) -> None:
    def serve(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ftlab.serve", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None},
        )

    cases = [
        (["run=/nonexistent"], "not a run directory"),
        ([f"run={intent_run}", "serve.prot=1"], "did you mean 'serve.port'"),
        ([f"run={intent_run}", "serve.backend=tf"], "serve.backend must be one of"),
        ([f"run={intent_run}", "serve.max_inputs=0"], "serve.max_inputs must be a number"),
    ]
    for args, expected in cases:
        done = serve(*args)
        assert done.returncode != 0 and expected in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    env = {"FTLAB_SERVE_API_KEY": ""}
    exposed = serve(f"run={intent_run}", "serve.host=0.0.0.0", env=env)
    assert exposed.returncode != 0 and "FTLAB_SERVE_API_KEY" in exposed.stderr
