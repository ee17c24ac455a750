"""`model.config.<field>=value`: fields of the model's own config (dropout, layers), checked
against its config class before anything loads, passed to from_pretrained, and saved with
the model (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import compose_config, tiny_run

from ftlab.errors import FtlabError
from ftlab.records import read_json
from ftlab.training.models import load_model_config

RUN = [
    "task=intent",
    "task.label_column=label",
    "task.max_eval_samples=40",
    "trainer.max_steps=8",
    "trainer.logging_steps=1",
    "optimizer.learning_rate=3e-3",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]


def _losses(run_dir: Path) -> list[float]:
    return [row["loss"] for row in read_json(run_dir / "train_log.json") if "loss" in row]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, tiny_model_dir: Path, intent_files) -> Path:
    return tiny_run(tmp_path_factory.mktemp("default"), tiny_model_dir, intent_files, *RUN)


def test_a_dropout_override_is_saved_with_the_model_and_changes_training(
    default_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files
) -> None:
    run = tiny_run(
        tmp_path / "run",
        tiny_model_dir,
        intent_files,
        *RUN,
        "model.config.hidden_dropout_prob=0.0",
        "model.config.attention_probs_dropout_prob=0.0",
        "model.config.classifier_dropout=0.5",
    )
    saved = read_json(run / "model" / "config.json")
    assert saved["hidden_dropout_prob"] == 0.0
    assert saved["attention_probs_dropout_prob"] == 0.0
    assert saved["classifier_dropout"] == 0.5
    # negative control: the run without overrides keeps the checkpoint's values
    default = read_json(default_run / "model" / "config.json")
    assert default["hidden_dropout_prob"] == 0.1 and default["classifier_dropout"] is None
    # the same seed and data: only the dropout differs, so the losses do
    assert len(_losses(run)) == len(_losses(default_run)) == 8
    assert _losses(run) != _losses(default_run)


def test_fewer_layers_keep_the_checkpoints_lowest_ones(
    default_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files
) -> None:
    run = tiny_run(
        tmp_path / "run",
        tiny_model_dir,
        intent_files,
        *RUN,
        "model.config.num_hidden_layers=1",
        "trainer.max_steps=1",
        "optimizer.learning_rate=1e-9",  # one near-zero step: the weights stay the loaded ones
    )
    assert read_json(run / "model" / "config.json")["num_hidden_layers"] == 1
    params = read_json(run / "params.json")["total_parameters"]
    assert params < read_json(default_run / "params.json")["total_parameters"]

    from safetensors.numpy import load_file

    student = load_file(run / "model" / "model.safetensors")
    teacher = load_file(tiny_model_dir / "model.safetensors")
    key = "encoder.layer.0.attention.self.query.weight"
    student_key = next(k for k in student if k.endswith(key))
    teacher_key = next(k for k in teacher if k.endswith(key))
    assert abs(student[student_key] - teacher[teacher_key]).max() < 1e-5
    assert not any(".layer.1." in k for k in student)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.config.hidden_dropout=0.2", "did you mean 'hidden_dropout_prob'"),
        ("model.config.hidden_dropout_prob=1.5", "must be between 0 and 1"),
        ("model.config.hidden_dropout_prob=high", "must be a number"),
        ("model.config.num_hidden_layers=0", "must be at least 1"),
        ("model.config.num_labels=3", "set by the task"),
    ],
)
def test_a_bad_config_field_is_one_line_before_any_loading(
    override: str, message: str, tiny_model_dir: Path
) -> None:
    cfg = compose_config([f"model.name_or_path={tiny_model_dir}", override])
    with pytest.raises(FtlabError, match=message):
        load_model_config(str(tiny_model_dir), cfg.model)


def test_the_override_is_a_model_key_and_its_siblings_stay_checked() -> None:
    from ftlab.config.validate import validate

    validate(compose_config(["model.config.hidden_dropout_prob=0.2"]))
    with pytest.raises(FtlabError, match="did you mean 'config'"):
        validate(compose_config(["model.confg.hidden_dropout_prob=0.2"]))
