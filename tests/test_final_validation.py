"""The final validation metrics come from the Trainer's own evaluation of the final weights
during training (no second pass over the validation set), and are the reloaded best
model's true scores; timings.json splits the run's time into its phases (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import compose_config, tiny_run, tiny_run_overrides

from ftlab.inference.job import predict
from ftlab.records import read_json


@pytest.fixture(scope="module")
def files(tmp_path_factory, intent_files: dict) -> dict[str, Path]:
    """The intent files with a 40-question validation file, scored whole."""
    directory = tmp_path_factory.mktemp("final-validation")
    validation = directory / "validation.csv"
    pd.read_csv(intent_files["validation"]).head(40).to_csv(validation, index=False)
    return {**intent_files, "validation": validation}


PHASES = ("startup", "data", "model", "training", "scoring", "saving")


def _evaluations(run_dir: Path) -> list[dict]:
    return [row for row in read_json(run_dir / "train_log.json") if "eval_runtime" in row]


@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_the_best_checkpoints_logged_evaluation_is_the_final_validation(
    metric: str, tmp_path: Path, tiny_model_dir: Path, files: dict
) -> None:
    overrides = [
        *tiny_run_overrides(tiny_model_dir, files),
        "task.max_eval_samples=null",
        "trainer.max_steps=9",
        "optimizer.learning_rate=5e-3",
        f"task.main_metric={metric}",
    ]
    run = tiny_run(tmp_path / "run", tiny_model_dir, files, *overrides)
    metrics = read_json(run / "metrics.json")["validation"]
    evaluations = _evaluations(run)
    # one evaluation each at steps 3, 6, 9; none repeated after training
    assert [row["step"] for row in evaluations] == [3, 6, 9]
    key, maximise = f"eval_{metric}", metric != "loss"
    best = (max if maximise else min)(evaluations, key=lambda row: row[key])
    assert metrics == {k: v for k, v in best.items() if k != "step"}
    # timings.json: the three evaluations and checkpoints split out of training
    record = read_json(run / "timings.json")
    timings = record["seconds"]
    assert list(timings) == [*PHASES[:4], "evaluation", "checkpoints", *PHASES[4:]]
    # when each evaluation ended: in order, inside the stage's time
    ended = [row["seconds"] for row in record["evaluations"]]
    assert [row["step"] for row in record["evaluations"]] == [3, 6, 9]
    assert ended == sorted(ended) and ended[-1] < sum(timings.values())
    in_training = sum(row["eval_runtime"] for row in evaluations)
    assert timings["evaluation"] == pytest.approx(in_training, abs=0.02)
    assert timings["checkpoints"] > 0 and timings["training"] > 0
    after_start = sum(seconds for phase, seconds in timings.items() if phase != "startup")
    assert after_start <= read_json(run / "status.json")["seconds"] + 0.1
    # and they are the saved (reloaded best) model's real scores on that validation file
    cfg = compose_config(
        [f"run={run}", f"input={files['validation']}", "output=" + str(tmp_path / "p.jsonl")],
        config_name="predict",
    )
    scored = next(iter(predict(cfg).values()))
    assert scored["accuracy"] == pytest.approx(metrics["eval_accuracy"])


def test_without_a_logged_evaluation_the_final_model_is_evaluated(
    tmp_path: Path, tiny_model_dir: Path, files: dict
) -> None:
    run = tiny_run(
        tmp_path / "run",
        tiny_model_dir,
        files,
        "task=intent",
        "task.label_column=label",
        "trainer.max_steps=4",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    )
    evaluations = _evaluations(run)
    assert [row["step"] for row in evaluations] == [4]  # the one evaluation, after training
    # negative control: nothing to split out of training, the evaluation is in the scoring
    record = read_json(run / "timings.json")
    timings = record["seconds"]
    assert record["evaluations"] == []
    assert timings["evaluation"] == 0 and timings["checkpoints"] == 0
    assert timings["scoring"] >= evaluations[0]["eval_runtime"]
    assert read_json(run / "metrics.json")["validation"]["eval_accuracy"] == pytest.approx(
        evaluations[0]["eval_accuracy"]
    )
