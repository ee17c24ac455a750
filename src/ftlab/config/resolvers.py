"""The OmegaConf resolvers ftlab's yaml files use.

- `${run_id:}`: a random id, the same for every use within one composed config.
- `${report_to:}`: the trackers whose sections the logger group holds.
- `${greater_is_better:}`: whether the task's main metric is maximised, asked of the task's
  own class (`task._target_`), so best-checkpoint selection, sweeps and the report agree.
- `${sweep_direction:}`: the same as Optuna's `maximize` / `minimize`.
"""

from __future__ import annotations

import secrets

from omegaconf import DictConfig, OmegaConf

from ftlab.config.fields import TRACKERS
from ftlab.config.targets import task_class


def report_to(*, _parent_: DictConfig) -> list[str]:
    """The trackers whose sections the logger config holds."""
    return [name for name in TRACKERS if name in _parent_]


def greater_is_better(*, _root_: DictConfig) -> bool:
    task = _root_.task
    return bool(task_class(task.get("_target_")).greater_is_better(str(task.main_metric)))


def sweep_direction(*, _root_: DictConfig) -> str:
    return "maximize" if _root_.trainer.greater_is_better else "minimize"


def register_resolvers() -> None:
    resolvers = {
        "run_id": (lambda: secrets.token_hex(3), True),
        "report_to": (report_to, False),
        "greater_is_better": (greater_is_better, False),
        "sweep_direction": (sweep_direction, False),
    }
    for name, (function, use_cache) in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function, use_cache=use_cache)
