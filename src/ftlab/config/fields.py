"""Which config keys become `transformers.TrainingArguments` fields, and checking them.

Config keys under the groups in TRAINING_ARGS_GROUPS use the Hugging Face field names
unchanged, so there is no translation table to drift when transformers adds a field.
The few keys ftlab adds itself are listed in FTLAB_KEYS.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.errors import FtlabError, did_you_mean
from ftlab.records import DEEPSPEED_FILE

# logger sections that name a transformers `report_to` integration
TRACKERS = ("wandb", "tensorboard", "mlflow")

TRAINING_ARGS_GROUPS = ("optimizer", "scheduler", "hardware", "trainer", "logger")

# Keys that live in those groups but are read by ftlab, not TrainingArguments.
FTLAB_KEYS: dict[str, frozenset[str]] = {
    # parameter groups with their own learning rates (ftlab/recipes/optim.py)
    "optimizer": frozenset({"layerwise_lr_decay", "head_learning_rate"}),
    "scheduler": frozenset(),
    "hardware": frozenset(
        {
            "require_cuda",
            # how many processes `accelerate launch` starts, and where (ftlab/launch/plan.py)
            "num_processes",
            "num_machines",
            "machine_rank",
            "main_process_ip",
            "main_process_port",
            # written into the run's deepspeed.json (ftlab/launch/deepspeed.py)
            "zero_stage",
            "offload_optimizer",
            "offload_param",
        }
    ),
    "trainer": frozenset(
        {
            "early_stopping_patience",
            "early_stopping_threshold",
            # FGM adversarial training (ftlab/recipes/adversarial.py)
            "adversarial",
            "adversarial_epsilon",
            # how many batches group_by_length sorts together (ftlab/recipes/sampling.py)
            "length_group_batches",
        }
    ),
    # one section per tracker, named after its `report_to` integration (ftlab/training/tracking.py)
    "logger": frozenset(TRACKERS),
}

# Fields ftlab sets itself from the run; a user value would be silently wrong.
RESERVED_FIELDS = frozenset({"output_dir"})


@cache
def _training_argument_fields() -> dict[str, tuple[str, ...] | None]:
    """The fields of `transformers.TrainingArguments`, each with the values its metadata
    lists as `choices` (None where it lists none).

    Read from transformers' source with `ast` rather than by importing it: the import
    pulls in torch (5 s), and this check runs on every command line, including
    `--cfg job`. A test asserts the result equals what `dataclasses.fields` gives.
    """
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        raise FtlabError("transformers is not installed; run `make install`")
    source = Path(next(iter(spec.submodule_search_locations))) / "training_args.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "TrainingArguments":
            return {
                stmt.target.id: _literal_choices(stmt.value)
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
    # transformers moved the class: fall back to the slow, always-right way.
    import dataclasses

    from transformers import TrainingArguments

    return {
        f.name: tuple(f.metadata["choices"]) if "choices" in f.metadata else None
        for f in dataclasses.fields(TrainingArguments)
    }


def _literal_choices(value: ast.expr | None) -> tuple[str, ...] | None:
    """`field(metadata={"choices": [...]})`'s list, where the source spells it out."""
    if not isinstance(value, ast.Call):
        return None
    for keyword in value.keywords:
        if keyword.arg == "metadata" and isinstance(keyword.value, ast.Dict):
            for key, choices in zip(keyword.value.keys, keyword.value.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "choices":
                    try:
                        return tuple(ast.literal_eval(choices))
                    except ValueError:  # computed (e.g. a dict's keys): not checked here
                        return None
    return None


def training_argument_names() -> frozenset[str]:
    """The field names of `transformers.TrainingArguments`."""
    return frozenset(_training_argument_fields())


def training_argument_choices() -> dict[str, tuple[str, ...]]:
    """The TrainingArguments fields whose source lists their `choices`, with those values."""
    return {name: c for name, c in _training_argument_fields().items() if c is not None}


def valid_keys(group: str) -> frozenset[str]:
    return (training_argument_names() - RESERVED_FIELDS) | FTLAB_KEYS[group]


def check_key(group: str, key: str) -> None:
    """Raise a one-line error naming the closest valid key when `group.key` is unknown."""
    if key in RESERVED_FIELDS:
        raise FtlabError(f"'{group}.{key}' is set by ftlab (the run directory); remove it")
    valid = valid_keys(group)
    if key in valid:
        return
    hint = did_you_mean(
        key, valid, prefix=f"{group}.", otherwise="valid keys are TrainingArguments fields"
    )
    raise FtlabError(f"unknown config key '{group}.{key}': {hint}")


def check_choice(group: str, key: str, value: Any) -> None:
    """A value outside the `choices` a TrainingArguments field declares: its command-line
    parser would refuse it, but the dataclass takes it, and a misspelt
    `train_sampling_strategy` would silently train with random batches."""
    choices = training_argument_choices().get(key)
    if choices is None or value is None or value in choices:
        return
    hint = did_you_mean(str(value), choices, otherwise="choose another")
    raise FtlabError(
        f"{group}.{key}={value}: no such option; {hint} (the options: {', '.join(choices)})"
    )


def training_arguments_kwargs(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """The keyword arguments for `TrainingArguments`, taken unchanged from the config groups."""
    kwargs: dict[str, Any] = {"output_dir": str(output_dir)}
    for group in TRAINING_ARGS_GROUPS:
        values = OmegaConf.to_container(cfg.get(group) or {}, resolve=True)
        kwargs.update({k: v for k, v in values.items() if k not in FTLAB_KEYS[group]})
    if cfg.hardware.get("zero_stage") is not None:
        # written by the parent from the hardware keys (ftlab.launch.deepspeed)
        kwargs["deepspeed"] = str(output_dir / DEEPSPEED_FILE)
    return kwargs
