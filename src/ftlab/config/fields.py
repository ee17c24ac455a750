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

from ftlab.config.resolvers import TRACKERS
from ftlab.errors import FtlabError, did_you_mean
from ftlab.records import DEEPSPEED_FILE

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
        }
    ),
    # one section per tracker, named after its `report_to` integration (ftlab/training/tracking.py)
    "logger": frozenset(TRACKERS),
}

# Fields ftlab sets itself from the run; a user value would be silently wrong.
RESERVED_FIELDS = frozenset({"output_dir"})


@cache
def training_argument_names() -> frozenset[str]:
    """The field names of `transformers.TrainingArguments`.

    Read from transformers' source with `ast` rather than by importing it: the import
    pulls in torch (5 s), and this check runs on every command line, including
    `--cfg job`. A test asserts the result equals `dataclasses.fields(TrainingArguments)`.
    """
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        raise FtlabError("transformers is not installed; run `make install`")
    source = Path(next(iter(spec.submodule_search_locations))) / "training_args.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "TrainingArguments":
            return frozenset(
                stmt.target.id
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            )
    # transformers moved the class: fall back to the slow, always-right way.
    import dataclasses

    from transformers import TrainingArguments

    return frozenset(f.name for f in dataclasses.fields(TrainingArguments))


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
