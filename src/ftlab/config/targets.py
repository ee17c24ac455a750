"""The objects a config names by `_target_` (today: the task), built the Hydra way.

Imported by name, never statically: the config layer stays below the code it names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.errors import FtlabError, did_you_mean


def task_class(target: Any) -> type:
    """The class a task config's `_target_` names."""
    from hydra.utils import get_class

    if not target:
        raise FtlabError("the task config has no _target_; a task yaml names its class")
    try:
        return get_class(str(target))
    except Exception as exc:
        raise FtlabError(f"task class '{target}' cannot be imported: {exc}") from exc


def task_fields(cfg_task: DictConfig) -> set[str]:
    """The keys the task's class accepts (its dataclass fields that are set in the config)."""
    cls = task_class(cfg_task.get("_target_"))
    return {f.name for f in dataclasses.fields(cls) if f.init}


def build_task(cfg_task: DictConfig) -> Any:
    """Instantiate the task config's `_target_` with plain Python values; the task checks
    its own settings as it is built."""
    from hydra.utils import instantiate

    task_class(cfg_task.get("_target_"))  # a one-line error for a missing or broken class
    values = OmegaConf.to_container(cfg_task, resolve=True)
    try:
        # not recursive: a task field may hold another task's config (mlm's text_from)
        return instantiate(values, _convert_="all", _recursive_=False)
    except FtlabError:
        raise
    except Exception as exc:
        # Hydra wraps the task's own FtlabError (raised in __post_init__) in its own error
        cause = exc.__cause__
        if isinstance(cause, FtlabError):
            raise cause from None
        raise


def task_config(name: str) -> DictConfig:
    """`conf/task/<name>.yaml` composed with its kind's defaults, as `task=<name>` gives it
    (inside a running ftlab.run, and in workers and tests that compose without one)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from ftlab.config.overrides import group_options

    options = group_options("task") or []
    if name not in options:
        raise FtlabError(f"no task '{name}': {did_you_mean(name, options)}")
    overrides = [f"task={name}"]
    if GlobalHydra.instance().is_initialized():
        return compose("config", overrides=overrides).task
    with initialize_config_module("ftlab.conf", version_base="1.3"):
        return compose("config", overrides=overrides).task
