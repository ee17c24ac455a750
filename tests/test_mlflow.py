"""logger=mlflow: a real local MLflow store (SQLite, no server), read back with MLflow's
own client: names, params, tags, metrics and artifacts of a run; resume continues it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import compose_config, headless_chromium, tiny_run_overrides

from ftlab.job.lifecycle import run_job
from ftlab.records import read_json

FAKE_TOKEN = "hf_fake-secret-456"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files: dict):
    """One run logged to MLflow and TensorBoard together, a secret in the environment."""
    root = tmp_path_factory.mktemp("mlflow-root")
    run_dir = root / "runs" / "2026-01-01_00-00-00.000000-abc123"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", FAKE_TOKEN)
        cfg = compose_config(
            [
                *tiny_run_overrides(tiny_model_dir, intent_files),
                "logger=[mlflow,tensorboard]",
                f"output_root={root}",
            ]
        )
        run_job(cfg, run_dir)
    return root, run_dir


def _client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


def _only_run(root: Path):
    client = _client(root)
    experiment = client.get_experiment_by_name("intent")  # the task's name
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def test_the_run_carries_ftlabs_names_params_and_tags(store, tiny_model_dir: Path) -> None:
    root, run_dir = store
    _, run = _only_run(root)
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    params = run.data.params
    assert params["task.name"] == "intent" and params["trainer.max_steps"] == "6"
    assert params["model.name_or_path"] == str(tiny_model_dir)
    assert params["logger.mlflow.log_artifacts"] == "True"
    assert "learning_rate" in params  # the Trainer's own callback logged into the same run
    assert run.data.tags["run_dir"] == str(run_dir.resolve())
    assert read_json(run_dir / "mlflow.json")["run_id"] == run.info.run_id


def test_metrics_hold_the_training_log_and_the_final_scores(store) -> None:
    root, run_dir = store
    client, run = _only_run(root)
    metrics = read_json(run_dir / "metrics.json")
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test"]["test_accuracy"])
    history = client.get_metric_history(run.info.run_id, "eval_accuracy")
    assert len(history) >= 2  # every evaluation (steps 3 and 6), then the final one
    assert client.get_metric_history(run.info.run_id, "loss")  # the Trainer's training log
    # the epoch curve only rises: the final records add no `epoch` of their own
    epochs = [m.value for m in client.get_metric_history(run.info.run_id, "epoch")]
    assert epochs and epochs == sorted(epochs)


def test_records_are_artifacts_and_no_secret_is_stored(store) -> None:
    root, _ = store
    client, run = _only_run(root)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.json", "classification_report.json"} <= names
    assert not any(name.startswith(("model", "checkpoint")) for name in names)
    assert "status.json" not in names  # a copy saying "running": MLflow's run status tells
    assert (root / "mlartifacts").is_dir()  # beside the store, not ./mlruns
    stored = (root / "mlflow.db").read_bytes()
    for path in (root / "mlartifacts").rglob("*"):
        if path.is_file():
            stored += path.read_bytes()
    assert FAKE_TOKEN.encode() not in stored
    assert b"intent" in stored  # negative control: the store does hold the run's text


def test_jobs_in_one_process_log_into_their_own_stores_and_send_no_usage_data(
    store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model_dir: Path, intent_files
) -> None:
    """A sweep's jobs run in one process: a job of another output_root after `store`'s."""
    monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    overrides = [*tiny_run_overrides(tiny_model_dir, intent_files), "logger=mlflow"]
    run_job(compose_config([*overrides, f"output_root={tmp_path}"]), tmp_path / "run")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert "MLFLOW_TRACKING_URI" not in os.environ  # MLflow's copy of this job's store is gone
    for root in (store[0], tmp_path):
        client, run = _only_run(root)  # each store holds its own job's run, and only it
        assert client.list_artifacts(run.info.run_id)
        assert run.info.artifact_uri.startswith((root / "mlartifacts").as_uri())


def test_the_report_over_the_output_root_lists_the_run_not_its_artifact_copies(store) -> None:
    from ftlab.report.runs import find_runs

    root, run_dir = store
    assert list((root / "mlartifacts").rglob("config.yaml"))  # the copies are there
    assert [run.path for run in find_runs(root)] == [run_dir]


def test_a_resumed_run_continues_its_mlflow_run(
    store, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    root, finished = store
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    for path in [*run_dir.glob("checkpoint-6"), run_dir / "model"]:
        shutil.rmtree(path)
    (run_dir / "metrics.json").unlink()
    run_job(compose_config([f"resume={run_dir}", f"output_root={root}"]), run_dir)
    _, run = _only_run(root)  # still one run in the experiment
    assert read_json(run_dir / "mlflow.json")["run_id"] == run.info.run_id
    assert read_json(run_dir / "status.json")["status"] == "completed"


def test_logger_none_writes_no_store(tmp_path: Path, tiny_model_dir: Path, intent_files: dict):
    cfg = compose_config(
        [*tiny_run_overrides(tiny_model_dir, intent_files), f"output_root={tmp_path}"]
    )
    run_job(cfg, tmp_path / "run")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "run/mlflow.json").exists()


def _check_in_browser(port: int, run_id: str, run_name: str) -> None:
    """The UI's pages in headless Chromium (skipped without it): the experiment lists the
    run by ftlab's name, and the run's page shows its params and metrics."""
    import time

    from selenium.webdriver.common.by import By

    browser = headless_chromium()

    def shows(url: str, texts: list[str]) -> str:
        browser.get(url)
        deadline, body = time.time() + 90, ""
        while time.time() < deadline:  # a React app: the page fills in after loading
            body = browser.find_element(By.TAG_NAME, "body").text
            if all(text in body for text in texts):
                return body
            time.sleep(2)
        raise AssertionError(f"{url} never showed {texts}; it shows: {body[:2000]}")

    try:
        base = f"http://127.0.0.1:{port}/#/experiments/1"
        shows(f"{base}/runs", [run_name])
        shows(f"{base}/runs/{run_id}", [run_name, "eval_accuracy", "learning_rate"])
    finally:
        browser.quit()


@pytest.mark.slow
def test_make_dashboard_serves_the_store(store) -> None:
    """`make dashboard RUNS=<root>`: the MLflow UI on 127.0.0.1 answers with the run over
    its REST API and in a browser, served from the project's .venv (SQLAlchemy 2 with
    Optuna 4+: no second environment)."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    root, run_dir = store
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        ["make", "-s", "dashboard", f"RUNS={root}", f"PORT={port}"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": ["1"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        deadline, found = time.time() + 900, None
        while time.time() < deadline and found is None:
            time.sleep(3)
            try:
                found = json.loads(urllib.request.urlopen(request, timeout=5).read())
            except OSError:
                assert server.poll() is None, server.stdout.read()
        assert found is not None
        assert [r["info"]["run_name"] for r in found["runs"]] == [run_dir.name]
        _check_in_browser(port, found["runs"][0]["info"]["run_id"], run_dir.name)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
