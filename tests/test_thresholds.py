"""task.threshold=tune: multi-label decision thresholds chosen on validation (one, or one per
label), applied unchanged to test, saved with the model and used by ftlab.predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_config, in_process, tiny_run

from ftlab.config.targets import build_task
from ftlab.errors import FtlabError
from ftlab.records import read_json
from ftlab.tasks.thresholds import tune


def _macro_f1(predicted: np.ndarray, references: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(references, predicted, average="macro", zero_division=0))


def test_per_label_thresholds_find_a_rare_label_that_0_5_never_predicts() -> None:
    """Label `rare` is right whenever its probability is above 0.2 but never reaches 0.5;
    `absent` has no positive example, so it falls back to the global threshold."""
    rng = np.random.default_rng(0)
    references = np.zeros((200, 3), dtype=int)
    references[:120, 0] = 1  # frequent
    references[150:170, 1] = 1  # rare
    probabilities = np.where(references == 1, 0.8, 0.2) + rng.uniform(-0.1, 0.1, (200, 3))
    probabilities[:, 1] = np.where(references[:, 1] == 1, 0.3, 0.05) + rng.uniform(-0.03, 0.03, 200)

    def score(predicted: np.ndarray) -> float:
        return _macro_f1(predicted, references)

    labels = ["frequent", "rare", "absent"]
    at_half = (probabilities > 0.5).astype(int)
    assert at_half[:, 1].sum() == 0  # negative control: 0.5 misses the rare label entirely
    chosen = tune(probabilities, references, labels, score, "f1_macro", per_label=True)
    assert 0.1 <= chosen.per_label["rare"] <= 0.25
    rare_f1 = _macro_f1(
        (probabilities[:, 1:2] > chosen.per_label["rare"]).astype(int), references[:, 1:2]
    )
    assert rare_f1 == 1.0
    assert chosen.fallback_labels == ["absent"]
    assert chosen.per_label["absent"] == chosen.value
    per_label_predictions = (probabilities > chosen.array(labels)).astype(int)
    assert score(per_label_predictions) >= score((probabilities > chosen.value).astype(int))
    single = tune(probabilities, references, labels, score, "f1_macro", per_label=False)
    assert single.per_label is None and single.value == chosen.value
    assert score((probabilities > single.value).astype(int)) >= score(at_half)


@pytest.mark.parametrize("metric", ["f1_macro", "f1_micro", "accuracy"])
def test_candidates_are_scored_as_the_task_scores(metric: str) -> None:
    """The tuner's fast scorer gives the task's own (evaluate) numbers, LexGLUE column too."""
    from ftlab.tasks.classification import _candidate_score

    task = build_task(compose_config(["task=legal_multilabel"]).task)
    rng = np.random.default_rng(1)
    references = (rng.uniform(size=(80, 5)) > 0.7).astype(int)
    predicted = (rng.uniform(size=(80, 5)) > 0.6).astype(int)
    expected = task._scores(predicted, references)[metric]
    assert _candidate_score(metric, references)(predicted) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task=intent", "task.threshold=tune"], "single-label task takes the most probable"),
        (["task=legal_multilabel", "task.threshold=best"], "a probability or 'tune'"),
        (["task=legal_multilabel", "task.threshold_per_label=true"], "add task.threshold=tune"),
    ],
)
def test_bad_threshold_settings_are_one_line(args: list, message: str) -> None:
    with pytest.raises(FtlabError, match=message):
        build_task(compose_config(args).task)


@pytest.fixture(scope="module")
def tuned_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, multilabel_files: dict
) -> Path:
    return tiny_run(
        tmp_path_factory.mktemp("tuned") / "run",  # its own folder: the report reads it whole
        tiny_model_dir,
        multilabel_files,
        "task=legal_multilabel",
        "task.max_seq_length=64",
        "trainer.num_train_epochs=3",
        "optimizer.learning_rate=3e-3",
        "task.threshold=tune",
        "task.threshold_per_label=true",
        "task.main_metric=f1_macro",
    )


def test_the_chosen_thresholds_are_recorded_and_decide_the_test_predictions(
    tuned_run: Path, multilabel_files: dict
) -> None:
    from sklearn.metrics import f1_score

    metrics = read_json(tuned_run / "metrics.json")
    saved = read_json(tuned_run / "model/decision.json")["thresholds"]
    assert saved["metric"] == "f1_macro" and set(saved["per_label"]) == set(
        json.loads((tuned_run / "model/config.json").read_text())["label2id"]
    )
    # the global value chosen on validation is the one applied to test
    assert metrics["validation"]["eval_threshold"] == saved["value"]
    assert metrics["test"]["test_threshold"] == saved["value"]
    rows = [json.loads(line) for line in (tuned_run / "predictions.jsonl").read_text().splitlines()]
    labels = sorted(saved["per_label"])
    for row in rows:
        expected = [x for x in labels if row["scores"][x] > saved["per_label"][x]]
        assert sorted(row["prediction"]) == expected
    # test F1 (with the LexGLUE "no label" column) recomputed from the written predictions
    gold = np.array([[int(x in r["label"]) for x in labels] for r in rows])
    predicted = np.array([[int(x in r["prediction"]) for x in labels] for r in rows])

    def with_none(matrix: np.ndarray) -> np.ndarray:
        return np.concatenate([matrix, (matrix.sum(axis=1) == 0)[:, None]], axis=1)

    recomputed = f1_score(with_none(gold), with_none(predicted), average="macro", zero_division=0)
    assert metrics["test"]["test_f1_macro"] == pytest.approx(recomputed, abs=1e-6)


def test_predict_applies_the_saved_thresholds(
    tuned_run: Path, multilabel_files: dict, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    done = in_process(
        "ftlab.predict",
        f"run={tuned_run}",
        f"input={multilabel_files['test']}",
        f"output={out}",
        "progress=false",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    trainer_rows = [
        json.loads(x) for x in (tuned_run / "predictions.jsonl").read_text().splitlines()
    ]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [sorted(r["label"]) for r in rows] == [sorted(r["prediction"]) for r in trainer_rows]
    # negative control: the same scores at a fixed 0.5 decide differently somewhere
    at_half = [sorted(x for x, p in r["scores"].items() if p > 0.5) for r in rows]
    assert at_half != [sorted(r["label"]) for r in rows]


def test_the_report_shows_the_chosen_thresholds(tuned_run: Path, tmp_path: Path) -> None:
    from ftlab.report.__main__ import main

    main([str(tuned_run.parent), "--out", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert "Thresholds chosen on validation" in page
    saved = read_json(tuned_run / "model/decision.json")["thresholds"]
    for label, value in saved["per_label"].items():
        assert f"<td>{label}</td>\n      <td>{value:.2f}</td>" in page


def test_a_multi_label_run_exports_to_onnx(tuned_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from helpers import assert_export_agrees, exported

    report = exported(tuned_run, tmp_path)
    assert_export_agrees(report)  # agreement on the labels each sigmoid output decides
