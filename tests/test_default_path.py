"""The path every newcomer takes: `python -m ftlab.run experiment=demo` trains the offline
MiniLM on Rotten Tomatoes from their packages (requirements-offline.txt), and the splits cut
from the one-split data set are disjoint from train and repeat under `task.shuffle_seed`."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import compose_config, in_process

from ftlab.config.targets import build_task
from ftlab.records import read_json


def _splits(*overrides: str):
    task = build_task(compose_config(["experiment=demo", *overrides]).task)
    return task, task.prepare()


def test_the_splits_cut_from_train_are_disjoint_and_repeat_under_the_seed() -> None:
    task, splits = _splits()
    assert task.label_list == ["negative", "positive"]
    assert len(splits["train"]) == 4000  # experiment=demo's max_train_samples
    train = set(splits["train"]["text"])
    validation, test = set(splits["validation"]["text"]), set(splits["test"]["text"])
    assert len(validation) > 1000 and len(test) > 1000
    assert train.isdisjoint(validation) and train.isdisjoint(test)
    assert validation.isdisjoint(test)
    _, again = _splits()
    assert again["test"]["text"] == splits["test"]["text"]
    # negative control: another shuffle_seed cuts other examples
    _, other = _splits("task.shuffle_seed=7")
    assert set(other["test"]["text"]) != test


def test_the_demo_command_trains_the_offline_minilm(tmp_path: Path) -> None:
    done = in_process(
        "ftlab.run",
        "experiment=demo",
        "task.max_train_samples=64",
        "task.max_eval_samples=32",
        "trainer.max_steps=2",
        "trainer.per_device_train_batch_size=8",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
        "trainer.disable_tqdm=true",
        f"output_root={tmp_path}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs" / "sentiment" / "minilm").iterdir()
    assert read_json(run / "status.json")["status"] == "completed"
    metrics = read_json(run / "metrics.json")
    assert 0 <= metrics["test"]["test_accuracy"] <= 1 and metrics["train"]["train_loss"] > 0
    config = read_json(run / "model" / "config.json")
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["num_hidden_layers"] == 6 and config["hidden_size"] == 384  # MiniLM-L6
    assert len((run / "predictions.jsonl").read_text().splitlines()) == 32
    # the summary table a newcomer reads: accuracy on validation and test, and the run
    summary = done.stdout[done.stdout.index("metric") :].splitlines()
    assert summary[0].split() == ["metric", "validation", "test"]
    (accuracy,) = (line.split() for line in summary if line.startswith("accuracy "))
    assert float(accuracy[2]) == pytest.approx(metrics["test"]["test_accuracy"], abs=5e-5)
    assert str(run) in summary[-1]
