"""Command-line overrides, checked and normalised before Hydra sees them.

Two things Hydra cannot do on its own:
- a TrainingArguments field that the yaml files do not list (there are 114) must still be
  settable as `trainer.gradient_checkpointing=true`, without Hydra's `+` prefix;
- a misspelt key must fail with the closest valid key named, not with a struct error.
So `group.key=value` for the TrainingArguments groups is checked here and rewritten to
Hydra's `++group.key=value` (set or add). Task, model and peft keys are rewritten the same
way and checked after composition, where the task's kind (and so its valid keys) and the
peft method are known.
"""

from __future__ import annotations

import re
from importlib import resources

from omegaconf import OmegaConf

from ftlab.config.fields import TRAINING_ARGS_GROUPS, check_key
from ftlab.errors import FtlabError, did_you_mean

_OVERRIDE = re.compile(
    r"^(?P<prefix>\+\+|\+|~)?(?P<group>[A-Za-z_]\w*)\.(?P<key>[A-Za-z_]\w*)(?P<rest>=.*)?$", re.S
)
_LATE_CHECKED_GROUPS = ("task", "model", "peft")


def normalize_overrides(args: list[str]) -> list[str]:
    """Return `args` with known-group overrides checked and turned into `++` overrides."""
    return [_normalize(arg) for arg in args]


def _normalize(arg: str) -> str:
    match = _OVERRIDE.match(arg)
    if arg.startswith("-") or match is None or match["rest"] is None:
        return arg
    prefix, group, key = match["prefix"] or "", match["group"], match["key"]
    if prefix == "~":
        return arg
    if group in TRAINING_ARGS_GROUPS:
        check_key(group, key)
    elif group not in _LATE_CHECKED_GROUPS:
        return arg
    return f"++{group}.{key}{match['rest']}"


def entry_keys(config_name: str) -> set[str]:
    """The top-level keys of `conf/<config_name>.yaml` (its Hydra sections left out)."""
    text = resources.files("ftlab.conf").joinpath(f"{config_name}.yaml").read_text("utf-8")
    return {str(k) for k in OmegaConf.create(text) if k not in ("defaults", "hydra")}


def check_entry_keys(args: list[str], config_name: str) -> None:
    """ftlab.predict / ftlab.export: a misspelt `key=value` fails with the closest valid key
    (Hydra would only say that the key is not in the struct)."""
    valid = entry_keys(config_name)
    for arg in args:
        key, sep, _ = arg.partition("=")
        if not sep or arg.startswith("-") or key.startswith(("hydra.", "+", "~")):
            continue
        if key not in valid:
            raise FtlabError(f"unknown key '{key}': {did_you_mean(key, valid)}")
