"""The class Hydra finds (plugins live in the `hydra_plugins` namespace package) and builds
from `hydra.sweeper` (conf/hydra/sweeper/optuna.yaml). Hydra imports every plugin module
when it starts, so Optuna is imported only when a search is built."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Optuna >= 4 on its ask-and-tell interface, with pruning from the Trainer's evaluations."""

    def __init__(self, **settings: Any) -> None:
        from ftlab.job.search import OptunaSearch

        self.search = OptunaSearch(**settings)

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from ftlab.errors import one_line_errors

        with one_line_errors(exit_code=2):  # a bad search setting: one line, no traceback
            return self.search.sweep(arguments)
