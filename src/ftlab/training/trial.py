"""A sweep job's Optuna trial: its evaluations reported to the study, and pruning.

The Optuna sweeper (hparams_search=optuna) gives every job its trial's identity in the
config's `trial` section (storage, study, number, pruner). Rank 0 reports the main
validation metric of each evaluation to that trial (`trial.report`); when the study's
pruner says the trial is hopeless (`trial.should_prune`), every rank stops training, and
the job then finishes its records as usual and ends with status `pruned`.
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Any

from omegaconf import DictConfig
from transformers import TrainerCallback

from ftlab.errors import FtlabError

log = logging.getLogger(__name__)

PRUNERS = ("median", "hyperband", "none")
_CREATE_TRIES = 5


def open_storage(url: str) -> Any:
    """An Optuna storage: a database URL (sqlite:///..., postgresql://..., mysql://...),
    or any other string as the path of an Optuna journal file (a cluster's shared disk)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if "://" not in url:
        return optuna.storages.JournalStorage(JournalFileBackend(url))
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(_CREATE_TRIES):
        try:
            return optuna.storages.RDBStorage(url)
        except (IntegrityError, OperationalError):
            # workers started together on a new database race to create its tables: the
            # loser finds them made on its next try
            if attempt == _CREATE_TRIES - 1:
                raise
            time.sleep(0.2 + random.random())


def make_pruner(name: str) -> Any:
    """Optuna's pruner for `hydra.sweeper.pruner`: median, hyperband or none."""
    import optuna

    pruners = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "none": optuna.pruners.NopPruner,
    }
    if name not in pruners:
        raise FtlabError(
            f"hydra.sweeper.pruner={name} is not a pruner ftlab knows; use one of "
            f"{', '.join(PRUNERS)}"
        )
    return pruners[name]()


def open_trial(section: DictConfig) -> Any:
    """The running trial the sweeper asked for, from the config's `trial` section."""
    import optuna

    storage = open_storage(str(section.storage))
    study_id = storage.get_study_id_from_name(str(section.study))
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, int(section.number))
    study = optuna.load_study(
        study_name=str(section.study), storage=storage, pruner=make_pruner(str(section.pruner))
    )
    return optuna.trial.Trial(study, trial_id)


class ReportToTrial(TrainerCallback):
    """Report each evaluation's main metric to the trial and stop when it is pruned.

    `trial` is None on ranks other than 0: they take rank 0's decision (a broadcast), so
    every rank of a multi-process run stops at the same step.
    """

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial = trial
        self.metric = f"eval_{metric}"
        self.pruned_at: int | None = None
        self._training = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self._training = True

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self._training = False  # the final validation is the job's result, not a report

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict | None = None, **_: Any
    ) -> None:
        if not self._training:
            return
        prune = False
        value = (metrics or {}).get(self.metric)
        if self.trial is not None and value is not None and math.isfinite(value):
            self.trial.report(float(value), state.global_step)
            prune = self.trial.should_prune()
        if args.world_size > 1:
            import torch.distributed as dist

            decision = [prune]
            dist.broadcast_object_list(decision, src=0)
            prune = bool(decision[0])
        if prune:
            self.pruned_at = state.global_step
            log.info(
                "trial pruned at step %d (%s %s): stopping", state.global_step, self.metric, value
            )
            control.should_training_stop = True


def trial_callbacks(cfg: DictConfig, main_process: bool) -> list[ReportToTrial]:
    """The reporting callback for a job of an Optuna search; [] for any other run."""
    section = cfg.get("trial") or {}
    if section.get("number") is None:
        return []
    trial = open_trial(section) if main_process else None
    return [ReportToTrial(trial, str(cfg.task.main_metric))]
