"""The config tree: every option composes, keys are checked, TrainingArguments gets them as is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import compose_config
from omegaconf import OmegaConf

from ftlab.config.fields import (
    training_argument_choices,
    training_argument_names,
    training_arguments_kwargs,
)
from ftlab.config.overrides import normalize_overrides
from ftlab.config.secrets import redact
from ftlab.errors import FtlabError
from ftlab.job.lifecycle import check_config

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = [
    "task",
    "model",
    "optimizer",
    "scheduler",
    "hardware",
    "trainer",
    "logger",
    "experiment",
    "peft",
]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


def test_the_groups_the_issue_names_exist() -> None:
    names = {(g, o) for g, o in OPTIONS}
    for group, options in {
        "task": ["legal_cls", "legal_multilabel", "sentiment", "intent"],
        "model": [
            "bert-base",
            "bert-base-cased",
            "roberta-base",
            "deberta-v3-base",
            "distilbert",
            "legal-bert",
            "minilm",
        ],
        "optimizer": ["adamw", "adafactor"],
        "scheduler": ["linear", "cosine"],
        "hardware": ["cpu", "gpu", "gpu_bf16", "gpu_fp16"],
        "experiment": ["demo"],
        "peft": ["none", "lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning"],
    }.items():
        for option in options:
            assert (group, option) in names


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group: str, option: str, tmp_path: Path) -> None:
    cfg = compose_config([f"{group}={option}"])
    check_config(cfg)
    kwargs = training_arguments_kwargs(cfg, tmp_path)
    from transformers import TrainingArguments

    # every key reaches TrainingArguments under its own name (GPU flags need a GPU to build)
    assert set(kwargs) <= {f.name for f in dataclasses.fields(TrainingArguments)}


def test_all_groups_compose_together() -> None:
    cfg = compose_config(
        [
            "task=legal_multilabel",
            "model=deberta-v3-base",
            "optimizer=adafactor",
            "scheduler=cosine",
            "hardware=gpu_bf16",
        ]
    )
    check_config(cfg)
    assert cfg.task.multi_label is True
    assert cfg.optimizer.optim == "adafactor"
    assert cfg.scheduler.lr_scheduler_type == "cosine"
    assert cfg.hardware.bf16 is True
    assert cfg.trainer.metric_for_best_model == "f1_micro"


def test_experiment_preset_overrides_defaults() -> None:
    cfg = compose_config(["experiment=demo"])
    assert cfg.task.name == "sentiment" and cfg.model.name == "minilm"
    assert cfg.task.max_train_samples == 4000


def test_training_argument_names_and_choices_match_transformers() -> None:
    from transformers import TrainingArguments

    fields = dataclasses.fields(TrainingArguments)
    assert training_argument_names() == {f.name for f in fields}
    # every choice list the source spells out, as the dataclass holds it
    computed = ("log_level", "log_level_replica")  # a dict's keys in the source: not read
    spelt_out = {f.name: tuple(f.metadata["choices"]) for f in fields if "choices" in f.metadata}
    read = training_argument_choices()
    assert read == {k: v for k, v in spelt_out.items() if k not in computed}
    assert read["train_sampling_strategy"][:3] == ("random", "sequential", "group_by_length")
    # negative control: the shipped values pass
    check_config(compose_config(["experiment=sentiment_full"]))


def test_values_reach_training_arguments_unchanged(tmp_path: Path) -> None:
    from transformers import TrainingArguments

    cfg = compose_config(
        [
            "optimizer.learning_rate=3e-5",
            "trainer.num_train_epochs=7",
            "trainer.gradient_checkpointing=true",  # a field no yaml lists
            "scheduler=cosine",
            "hardware=cpu",
        ]
    )
    args = TrainingArguments(**training_arguments_kwargs(cfg, tmp_path))
    assert args.learning_rate == 3e-5
    assert args.num_train_epochs == 7
    assert args.gradient_checkpointing is True
    assert args.lr_scheduler_type == "cosine"
    assert args.use_cpu is True
    assert args.output_dir == str(tmp_path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.lerning_rate=1e-4", "did you mean 'optimizer.learning_rate'"),
        ("trainer.num_train_epoch=2", "did you mean 'trainer.num_train_epochs'"),
        ("+hardware.bf17=true", "did you mean 'hardware.bf16'"),
        ("trainer.output_dir=/tmp/x", "is set by ftlab"),
    ],
)
def test_misspelt_training_keys_name_the_closest_field(override: str, message: str) -> None:
    with pytest.raises(FtlabError, match=message):
        normalize_overrides([override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task.max_seq_len=64", "did you mean 'max_seq_length'"),
        ("task.lable_column=y", "did you mean 'label_column'"),
        ("model.name_or_pat=x", "did you mean 'name_or_path'"),
        ("optimizer.learning_rate=0", "learning_rate must be a number above 0"),
        ("optimizer.learning_rate=-1e-5", "learning_rate must be a number above 0"),
        ("trainer.per_device_train_batch_size=0", "per_device_train_batch_size must be"),
        # TrainingArguments takes any string here; a typo would train with random batches
        (
            "trainer.train_sampling_strategy=group_by_lenght",
            r"no such option; did you mean 'group_by_length'\? \(the options: random, ",
        ),
        ("hardware.ddp_backend=xyz", r"no such option; choose another \(the options: nccl"),
    ],
)
def test_bad_task_and_model_keys_fail_validation(override: str, message: str) -> None:
    cfg = compose_config([override])
    with pytest.raises(FtlabError, match=message):
        check_config(cfg)


def test_a_field_set_in_two_groups_is_an_error() -> None:
    cfg = compose_config(["trainer.learning_rate=1e-3"])
    with pytest.raises(FtlabError, match="set in both 'optimizer' and 'trainer'"):
        check_config(cfg)


def test_run_dirs_are_unique_within_the_same_second() -> None:
    dirs = {compose_config([], hydra_config=True).hydra.run.dir for _ in range(3)}
    assert len(dirs) == 3
    for run_dir in dirs:
        assert run_dir.startswith("experiments/runs/sentiment/minilm/")


def test_secrets_are_redacted() -> None:
    cfg = OmegaConf.create(
        {
            "trainer": {"hub_token": "hf_abc", "include_num_input_tokens_seen": True},
            "logger": {"api_key": "k", "project": "p"},
        }
    )
    clean = redact(OmegaConf.to_container(cfg))
    assert clean["trainer"]["hub_token"] == "<redacted>"
    assert clean["logger"]["api_key"] == "<redacted>"
    assert clean["trainer"]["include_num_input_tokens_seen"] is True
    assert clean["logger"]["project"] == "p"


def _presets() -> list[tuple[str, str]]:
    from ftlab.config.overrides import group_options

    groups = ("optimizer", "scheduler", "hardware", "trainer", "logger", "experiment")
    return [(group, option) for group in groups for option in group_options(group) or []]


# what a GPU preset asks of the machine; on a CPU-only one those are switched off, so every
# other value of the preset is still checked by TrainingArguments
_CPU_ONLY = ["hardware.bf16=false", "hardware.tf32=false", "hardware.fp16=false"]


@pytest.mark.parametrize(("group", "option"), _presets(), ids=[f"{g}={o}" for g, o in _presets()])
def test_every_preset_builds_training_arguments(group: str, option: str, tmp_path: Path) -> None:
    """A bad value in a preset (a misspelt scheduler, an impossible strategy pair) fails
    here, not in the first run that picks it."""
    import importlib.util

    import torch
    from transformers import TrainingArguments

    if option.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        pytest.skip("TrainingArguments loads the deepspeed package for its config")
    overrides = [f"{group}={option}"]
    if not torch.cuda.is_available():
        overrides += _CPU_ONLY
    cfg = compose_config(overrides)
    args = TrainingArguments(**training_arguments_kwargs(cfg, tmp_path))
    assert args.output_dir == str(tmp_path)
    if group == "scheduler":  # the preset's value reached the Trainer
        assert str(args.lr_scheduler_type.value) == cfg.scheduler.lr_scheduler_type


def test_the_top_level_keys_ftlab_accepts_are_those_the_config_composes() -> None:
    """validate.TOP_LEVEL_KEYS is written out; it must follow conf/config.yaml."""
    from ftlab.config.compose import compose_config
    from ftlab.config.validate import TOP_LEVEL_KEYS

    assert set(compose_config([]).keys()) == TOP_LEVEL_KEYS
