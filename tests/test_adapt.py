"""adapt=tapt / dapt: a masked-LM stage in <run>/adapt/, then fine-tuning from its model, in
one run directory; resumed in either stage; one-line errors for bad adapt settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import compose_config, tiny_run

from ftlab.config.validate import validate
from ftlab.errors import FtlabError
from ftlab.records import read_json

QUERY = "bert.encoder.layer.0.attention.self.query.weight"
# a masked-LM stage that visibly moves the tiny model's weights in a few steps
TAPT = [
    "task=intent",
    "task.label_column=label",
    "adapt=tapt",
    "adapt.max_steps=6",
    "adapt.learning_rate=2e-3",
    "adapt.max_seq_length=32",
]
# fine-tuning that saves checkpoints at steps 3 and 6 (resume) and keeps them
FINE_TUNE = [
    "trainer.max_steps=6",
    "trainer.eval_strategy=steps",
    "trainer.eval_steps=3",
    "trainer.save_strategy=steps",
    "trainer.save_steps=3",
    "trainer.save_total_limit=2",
    "task.max_eval_samples=40",
]


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


@pytest.fixture(scope="module")
def two_stage_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files: dict
) -> Path:
    return tiny_run(
        tmp_path_factory.mktemp("tapt") / "run", tiny_model_dir, intent_files, *TAPT, *FINE_TUNE
    )


def test_both_stages_are_recorded_in_one_run_directory(
    two_stage_run: Path, intent_files: dict
) -> None:
    import yaml

    stage = two_stage_run / "adapt"
    assert read_json(stage / "status.json")["status"] == "completed"
    assert read_json(two_stage_run / "status.json")["status"] == "completed"
    stage_metrics = read_json(stage / "metrics.json")["validation"]
    assert stage_metrics["eval_perplexity"] > 1 and "eval_accuracy" in stage_metrics
    # the stage learnt from this run's own training texts (its configured files, not the
    # preset's builtin data); the fine-tuning stage's metrics are the task's
    stage_config = yaml.safe_load((stage / "config.yaml").read_text())
    assert stage_config["task"]["text_from"]["train_file"] == str(intent_files["train"])
    assert stage_config["task"]["_target_"].endswith("MaskedLMTask")
    assert stage_config["peft"] == {"method": "none"} and stage_config["adapt"]["kind"] == "none"
    assert "eval_accuracy" in read_json(two_stage_run / "metrics.json")["validation"]
    assert read_json(stage / "env.json")["stage"] == "adapt=tapt"
    assert (stage / "model" / "config.json").exists() and (stage / "train_log.json").exists()


def test_fine_tuning_starts_from_the_adapted_model(
    two_stage_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """Fine-tuned with a learning rate that changes nothing measurable, the model holds the
    adapted encoder; with adapt=none (negative control) it holds the original one."""
    import torch

    still = [
        "optimizer.learning_rate=1e-12",
        "trainer.max_steps=1",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    ]
    adapted_run = tiny_run(tmp_path / "a", tiny_model_dir, intent_files, *TAPT, *still)
    no_adapt = [arg for arg in TAPT if not arg.startswith("adapt")]
    plain_run = tiny_run(tmp_path / "p", tiny_model_dir, intent_files, *no_adapt, *still)
    adapted = _weights(adapted_run / "adapt/model")[QUERY]
    original = _weights(tiny_model_dir)[QUERY.removeprefix("bert.")]
    assert not torch.allclose(adapted, original, atol=1e-3)  # the stage trained
    assert torch.allclose(_weights(adapted_run / "model")[QUERY], adapted, atol=1e-6)
    assert torch.allclose(_weights(plain_run / "model")[QUERY], original, atol=1e-6)
    assert not (plain_run / "adapt").exists()


def _as_if_killed(run: Path, keep_checkpoint: str) -> None:
    """What a SIGKILL after that checkpoint leaves: no model, metrics or later checkpoint."""
    for path in run.glob("checkpoint-*"):
        if path.name != keep_checkpoint:
            shutil.rmtree(path)
    shutil.rmtree(run / "model")
    (run / "metrics.json").unlink()


def test_resume_in_the_fine_tuning_stage_keeps_the_adapt_stage(
    two_stage_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    run = tmp_path / "run"
    shutil.copytree(two_stage_run, run)
    _as_if_killed(run, "checkpoint-3")
    stage_log = (run / "adapt/train_log.json").read_text()
    adapted = _weights(run / "adapt/model")[QUERY]
    tiny_run(run, tiny_model_dir, intent_files, f"resume={run}")
    status = read_json(run / "status.json")
    assert status["status"] == "completed" and status["resumed_from"].endswith("checkpoint-3")
    assert (run / "adapt/train_log.json").read_text() == stage_log  # not trained again
    assert (_weights(run / "adapt/model")[QUERY] == adapted).all()
    assert (run / "model/model.safetensors").exists() and (run / "metrics.json").exists()


def test_resume_in_the_adapt_stage_continues_it_then_fine_tunes(
    two_stage_run: Path,
    tmp_path: Path,
    tiny_model_dir: Path,
    intent_files: dict,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="ftlab")
    run = tmp_path / "run"
    shutil.copytree(two_stage_run, run)
    for path in [*run.glob("checkpoint-*"), run / "model"]:
        shutil.rmtree(path)
    (run / "metrics.json").unlink()
    stage = run / "adapt"
    _as_if_killed(stage, "checkpoint-3")
    (stage / "status.json").write_text('{"status": "interrupted"}')
    tiny_run(run, tiny_model_dir, intent_files, f"resume={run}")
    assert read_json(stage / "status.json")["status"] == "completed"
    assert "eval_perplexity" in read_json(stage / "metrics.json")["validation"]
    assert "resuming from checkpoint-3" in caplog.text
    assert read_json(run / "status.json")["status"] == "completed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task=intent", "adapt=dapt"], "adapt=dapt needs the domain text: add adapt.train_file"),
        (["task=intent", "adapt=tapt", "adapt.train_file=x.txt"], "for domain text use adapt=dapt"),
        (["task=mlm", "adapt=tapt"], "is masked-LM training itself"),
        (["adapt=tapt", "adapt.max_step=5"], "unknown config key 'adapt.max_step'"),
        (["adapt=tapt", "adapt.mlm_probability=2"], "between 0 and 1"),
        (["adapt=tapt", "adapt.whole_word_mask=true", "adapt.line_by_line=true"], "grouped"),
        (["adapt=tapt", "adapt.learning_rate=fast"], "adapt.learning_rate must be a number"),
    ],
)
def test_bad_adapt_settings_are_one_line(args: list, message: str) -> None:
    with pytest.raises(FtlabError, match=message):
        validate(compose_config(args))


def test_dapt_on_domain_text_with_a_lora_fine_tuning_stage(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict, trec_rows: list
) -> None:
    """Domain text from a .txt file; peft applies to the fine-tuning stage only (the stage
    trains the whole model), and the adapter's base is the adapted model."""
    domain = tmp_path / "domain.txt"
    domain.write_text("\n".join(row["text"] for row in trec_rows[:400]) + "\n")
    run = tiny_run(
        tmp_path / "run",
        tiny_model_dir,
        intent_files,
        "task=intent",
        "task.label_column=label",
        "adapt=dapt",
        f"adapt.train_file={domain}",
        "adapt.max_steps=4",
        "adapt.learning_rate=2e-3",
        "peft=lora",
        "trainer.max_steps=4",
    )
    assert read_json(run / "status.json")["status"] == "completed"
    stage_params = read_json(run / "adapt/params.json")
    assert stage_params["trainable_parameters"] == stage_params["total_parameters"]  # all of it
    adapter = read_json(run / "model/adapter_config.json")
    assert adapter["base_model_name_or_path"] == str(run / "adapt/model")


def test_adapt_keys_without_a_stage_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    """A sweep `adapt=none,tapt adapt.max_steps=5` sets the key on its adapt=none job too."""
    validate(compose_config(["adapt.max_steps=5"]))
    assert "adapt.max_steps is set but no adapt stage is chosen" in caplog.text
    with pytest.raises(FtlabError, match=r"unknown config key 'adapt\.max_step'"):
        validate(compose_config(["adapt.max_step=5"]))  # still checked by name


def test_the_run_summary_names_the_adapt_stage(two_stage_run: Path) -> None:
    from ftlab.job.adapt import stage_summary

    line = stage_summary(two_stage_run)
    perplexity = read_json(two_stage_run / "adapt/metrics.json")["validation"]["eval_perplexity"]
    assert line is not None and f"validation perplexity {perplexity:.1f}" in line
    assert stage_summary(two_stage_run / "adapt") is None  # a run without a stage
