"""Real Trainer runs on a tiny BERT and small real data: they must learn, and write a full run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers import FAST, compose_config, local_data, tiny_run_overrides

from ftlab.job.lifecycle import run_job
from ftlab.records import read_json


@pytest.fixture(scope="module")
def intent_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files: dict
) -> Path:
    """One tiny-BERT run on 1,200 real TREC questions (6 intents), shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("intent-run")
    cfg = compose_config(
        [
            *FAST,
            "task=intent",
            f"model.name_or_path={tiny_model_dir}",
            *local_data(intent_files),
            "task.label_column=label",
            "trainer.num_train_epochs=4",
            "optimizer.learning_rate=2e-3",
            "trainer.per_device_train_batch_size=32",
        ]
    )
    run_job(cfg, run_dir)
    return run_dir


def test_single_label_run_beats_chance(intent_run: Path, trec_rows: list) -> None:
    metrics = read_json(intent_run / "metrics.json")
    test_rows = trec_rows[1400:1600]
    majority = Counter(r["label"] for r in test_rows).most_common(1)[0][1] / len(test_rows)
    assert metrics["test"]["test_accuracy"] > majority + 0.15, (metrics["test"], majority)
    assert metrics["validation"]["eval_accuracy"] > majority + 0.15
    for key in ("eval_f1_micro", "eval_f1_macro", "eval_loss"):
        assert key in metrics["validation"]
    assert metrics["train"]["train_loss"] > 0


def test_run_directory_holds_the_full_record(intent_run: Path) -> None:
    assert read_json(intent_run / "status.json")["status"] == "completed"
    config = (intent_run / "config.yaml").read_text()
    assert "name: intent" in config and "${" not in config  # resolved
    env = read_json(intent_run / "env.json")
    assert env["packages"]["transformers"] and env["world_size"] == 1
    rows = [
        json.loads(line) for line in (intent_run / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 200
    assert {"text", "label", "prediction", "scores"} <= rows[0].keys()
    metrics = read_json(intent_run / "metrics.json")
    accuracy = sum(r["label"] == r["prediction"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(metrics["test"]["test_accuracy"])
    report = read_json(intent_run / "classification_report.json")
    assert set(report) >= {"HUM", "LOC", "NUM", "macro avg"}


def test_saved_model_works_with_pipeline(intent_run: Path) -> None:
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(intent_run / "model"), device="cpu")
    rows = [
        json.loads(line) for line in (intent_run / "predictions.jsonl").read_text().splitlines()
    ]
    outputs = classifier([r["text"] for r in rows[:20]])
    assert [o["label"] for o in outputs] == [r["prediction"] for r in rows[:20]]


def test_multilabel_run_beats_the_frequent_labels_baseline(
    tmp_path: Path, tiny_model_dir: Path, multilabel_files: dict
) -> None:
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    cfg = compose_config(
        [
            *FAST,
            "task=legal_multilabel",
            f"model.name_or_path={tiny_model_dir}",
            *local_data(multilabel_files),
            "task.max_seq_length=64",
            # 5 trainer seeds: test micro-F1 0.525-0.549 after 4 epochs (6 epochs, 3 seeds:
            # 0.515-0.555), against a baseline of 0.399 that the run must beat by 0.05
            "trainer.num_train_epochs=4",
            "optimizer.learning_rate=3e-3",
            "task.threshold=0.3",
        ]
    )
    run_job(cfg, tmp_path)
    metrics = read_json(tmp_path / "metrics.json")
    gold = [
        json.loads(line)["labels"] for line in multilabel_files["test"].read_text().splitlines()
    ]
    # baseline: predict the two most frequent training labels for every example
    train = [
        json.loads(line)["labels"] for line in multilabel_files["train"].read_text().splitlines()
    ]
    top2 = [label for label, _ in Counter(x for row in train for x in row).most_common(2)]
    binarizer = MultiLabelBinarizer().fit(gold + train)
    baseline = f1_score(
        binarizer.transform(gold), binarizer.transform([top2] * len(gold)), average="micro"
    )
    assert metrics["test"]["test_f1_micro"] > baseline + 0.05, (metrics["test"], baseline)
    row = json.loads((tmp_path / "predictions.jsonl").read_text().splitlines()[0])
    assert isinstance(row["label"], list) and isinstance(row["prediction"], list)


def test_second_identical_run_loads_tokenization_from_cache(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = [
        *FAST,
        "task=intent",
        f"model.name_or_path={tiny_model_dir}",
        *local_data(intent_files),
        "task.label_column=label",
        "trainer.max_steps=2",
        "task.max_seq_length=40",
    ]
    with caplog.at_level("INFO", logger="ftlab.data.cache"):
        run_job(compose_config(overrides), tmp_path / "first")
        first = [r.message for r in caplog.records if "tokenization" in r.message]
        caplog.clear()
        run_job(compose_config(overrides), tmp_path / "second")
        second = [r.message for r in caplog.records if "tokenization" in r.message]
    assert all(m.endswith("tokenization done") for m in first) and len(first) == 3
    assert all(m.endswith("tokenization cached") for m in second) and len(second) == 3


EXPERIMENTS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[1] / "conf/experiment").glob("*.yaml")
)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_preset_runs_a_few_steps(
    experiment: str,
    tmp_path: Path,
    tiny_model_dir: Path,
    intent_files: dict,
    multilabel_files: dict,
    tiny_family,
) -> None:
    task = compose_config([f"experiment={experiment}"]).task
    model = tiny_model_dir
    if task["_target_"].endswith("SupervisedFineTuningTask"):  # a decoder with a chat template
        model = tiny_family("qwen2")
    if task.get("builtin_dataset"):  # the preset's own offline data, cut small
        data = ["task.max_train_samples=64"]
    elif task.get("multi_label"):  # a Hub data set: local files of the same shape instead
        data = [*local_data(multilabel_files), "task.label_column=labels"]
    else:
        data = [*local_data(intent_files), "task.label_column=label"]
    cfg = compose_config(
        [
            f"experiment={experiment}",
            *FAST,
            f"model.name_or_path={model}",
            *data,
            "trainer.max_steps=3",
            "task.max_eval_samples=20",
            "task.max_seq_length=64",
        ]
    )
    assert run_job(cfg, tmp_path) is not None
    assert read_json(tmp_path / "status.json")["status"] == "completed"


def test_early_stopping_stops_when_the_validation_metric_stops_improving(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """At lr 1e-9 the weights stay put, so validation accuracy never beats its first value:
    patience 1 ends the run after at most two evaluations (every 2 steps); the same run
    without patience trains all 12 steps (the negative control)."""
    common = [
        *tiny_run_overrides(tiny_model_dir, intent_files),
        "trainer.max_steps=12",
        "trainer.eval_steps=2",
        "trainer.save_steps=2",
        "optimizer.learning_rate=1e-9",
    ]

    def last_step(*overrides: str) -> int:
        run_dir = tmp_path / str(len(overrides))
        run_job(compose_config([*common, *overrides]), run_dir)
        return max(entry["step"] for entry in read_json(run_dir / "train_log.json"))

    assert last_step("trainer.early_stopping_patience=1") <= 4
    assert last_step() == 12
