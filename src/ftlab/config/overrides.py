"""Command-line overrides, checked and normalised before Hydra sees them.

Two things Hydra cannot do on its own:
- a TrainingArguments field that the yaml files do not list (there are 114) must still be
  settable as `trainer.gradient_checkpointing=true`, without Hydra's `+` prefix;
- a misspelt key must fail with the closest valid key named, not with a struct error.
So `group.key=value` for the TrainingArguments groups is checked here and rewritten to
Hydra's `++group.key=value` (set or add). Task, model (with `model.config.<field>`), peft,
adapt and distill keys are rewritten the same way and checked after composition, where the
task's kind (and so its valid keys), the peft method and the adapt stage are known.
"""

from __future__ import annotations

import re
from importlib import resources

from omegaconf import DictConfig, OmegaConf

from ftlab.config.fields import TRAINING_ARGS_GROUPS, check_key
from ftlab.errors import FtlabError, did_you_mean

_OVERRIDE = re.compile(
    r"^(?P<prefix>\+\+|\+|~)?(?P<group>[A-Za-z_]\w*)\.(?P<key>[A-Za-z_][\w.]*)(?P<rest>=.*)?$",
    re.S,
)
# `model.config.hidden_dropout_prob=0.2` sets a field of the model's own config (dotted)
_LATE_CHECKED_GROUPS = ("task", "model", "peft", "adapt", "distill")


def normalize_overrides(args: list[str]) -> list[str]:
    """Return `args` with known-group overrides checked and turned into `++` overrides, and
    config-group choices (`task=intent`) checked against the options conf/ has."""
    for arg in args:
        check_grammar(arg)
        _check_choice(arg)
    return [_normalize(arg) for arg in args]


def check_grammar(arg: str) -> None:
    """An override Hydra's grammar can parse (`key=value`, sweeps, interpolations), else
    one line naming it, not Hydra's parser trace."""
    if arg.startswith("-") or "=" not in arg:
        return  # flags (-m, --cfg job ...) and their values are Hydra's own
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        OverridesParser.create().parse_override(arg)
    except HydraException as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FtlabError(
            f"override '{arg}' cannot be parsed ({reason}); quote values with special "
            "characters ('key=\"a b\"'), and close every ${...} interpolation"
        ) from None


def group_options(group: str) -> list[str] | None:
    """The options of a config group (`task` -> intent, ner ...), None if it is no group."""
    folder = resources.files("ftlab.conf").joinpath(group)
    if group.startswith("hydra") or not folder.is_dir():
        return None
    return sorted(
        f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml")
    )


def _check_choice(arg: str) -> None:
    """`group=option` (or a list or sweep of options) names options that exist."""
    key, sep, value = arg.lstrip("+").partition("=")
    if not sep or arg.startswith("-") or "(" in value or "$" in value:
        return  # not a choice, or a sweep function / interpolation for Hydra to expand
    options = group_options(key.split("@")[0])
    if options is None:
        return
    if not value.strip():
        raise FtlabError(
            f"{arg}: a config group needs an option; the {key} options: {', '.join(options)}"
        )
    if value.strip() == "null":
        raise FtlabError(
            f"{arg}: a config group cannot be set to null; leave it out, or drop it with ~{key}"
        )
    for option in value.strip("[]").split(","):
        option = option.strip().strip("'\"")
        if option and option != "null" and option not in options:
            listing = f"the {key} options: {', '.join(options)}"
            hint = did_you_mean(option, options, otherwise=listing)
            if hint != listing:
                hint = f"{hint} ({listing})"
            raise FtlabError(f"{key}={option}: no such option; {hint}")


def _normalize(arg: str) -> str:
    match = _OVERRIDE.match(arg)
    if arg.startswith("-") or match is None or match["rest"] is None:
        return arg
    prefix, group, key = match["prefix"] or "", match["group"], match["key"]
    if prefix == "~":
        return arg
    if group in TRAINING_ARGS_GROUPS:
        check_key(group, key.split(".")[0])
    elif group not in _LATE_CHECKED_GROUPS:
        return arg
    return f"++{group}.{key}{match['rest']}"


def entry_keys(config_name: str) -> set[str]:
    """The keys of `conf/<config_name>.yaml` (its Hydra sections left out), a section's
    keys dotted (`serve.port`) beside the section's own name."""
    text = resources.files("ftlab.conf").joinpath(f"{config_name}.yaml").read_text("utf-8")
    config = OmegaConf.create(text)
    keys = set()
    for key in config:
        if key in ("defaults", "hydra"):
            continue
        keys.add(str(key))
        section = config.get(key)
        if isinstance(section, DictConfig):
            keys |= {f"{key}.{inner}" for inner in section}
    return keys


def check_entry_keys(args: list[str], config_name: str) -> None:
    """ftlab.predict / ftlab.export: a misspelt `key=value` fails with the closest valid key
    (Hydra would only say that the key is not in the struct)."""
    valid = entry_keys(config_name)
    for arg in args:
        check_grammar(arg)
        key, sep, _ = arg.partition("=")
        if not sep or arg.startswith("-") or key.startswith(("hydra.", "+", "~")):
            continue
        if key not in valid:
            raise FtlabError(f"unknown key '{key}': {did_you_mean(key, valid)}")
