"""`hparams_search=optuna`: an Optuna (>= 4) study asks for trials, Hydra's launcher runs
them as jobs, and each job's records tell the study how its trial ended.

Hydra is the glue (the search space in Hydra's override grammar, the launcher, the sweep
directory); Optuna does the searching, on its ask-and-tell interface. The study lives in
a storage every job can reach (an SQLite file in the sweep directory by default), so a
job reports its evaluations to its own trial (training/trial.py) and its pruner can stop
it, whichever process or machine runs it; several sweeps given one `storage` and
`study_name` add trials to one study.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, Override, Transformer
from hydra.core.plugins import Plugins
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from ftlab.errors import FtlabError
from ftlab.job.sweep import OPTUNA_RESULTS, read_job
from ftlab.records import write_text_atomic
from ftlab.training.trial import make_pruner, open_storage

log = logging.getLogger("ftlab")

DEFAULT_STORAGE = "optuna.db"  # in the sweep directory, when no storage is given


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one search-space entry in Hydra's grammar:
    `choice(a, b)`, `range(start, stop, step)`, `interval(low, high)`, `tag(log, interval(...))`."""
    if override.is_choice_sweep() and not isinstance(override.value(), Glob):
        return CategoricalDistribution(list(override.sweep_iterator(Transformer.encode)))
    if override.is_range_sweep():
        values = list(override.sweep_iterator())
        step = override.value().step
        if all(isinstance(v, int) for v in values):
            return IntDistribution(int(values[0]), int(values[-1]), step=int(step))
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(step))
    if override.is_interval_sweep():
        interval = override.value()
        log_scale = "log" in interval.tags
        if isinstance(interval.start, int) and isinstance(interval.end, int):
            return IntDistribution(interval.start, interval.end, log=log_scale)
        return FloatDistribution(float(interval.start), float(interval.end), log=log_scale)
    raise FtlabError(
        f"hydra.sweeper.params: {override.input_line} is not a search space Optuna takes; "
        "use choice(...), range(...), interval(low, high) or tag(log, interval(low, high))"
    )


def search_space(
    params: dict[str, str], arguments: list[str]
) -> tuple[dict[str, BaseDistribution], dict[str, str], list[str]]:
    """The searched keys' distributions (by the key's name), the override prefix each is
    given with (`++`: ftlab's rewrite of the command line), and the fixed overrides every
    trial gets, from the preset's `hydra.sweeper.params` and the command line (which wins
    for a key in both)."""
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    try:
        parsed = OverridesParser.create().parse_overrides(lines)
    except Exception as exc:  # Hydra's grammar errors name the override
        raise FtlabError(f"hydra.sweeper.params: {exc}".splitlines()[0]) from None
    space: dict[str, BaseDistribution] = {}
    prefixes: dict[str, str] = {}
    fixed: dict[str, str] = {}
    for override in parsed:
        written = override.get_key_element()
        key = written.lstrip("+~")
        for found in (space, prefixes, fixed):
            found.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
            prefixes[key] = written[: len(written) - len(key)]
        else:
            fixed[key] = str(override.input_line)
    return space, prefixes, list(fixed.values())


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """The study's storage: as given, or an SQLite file in the sweep directory. A password
    in a database URL would be copied into every job's config: it comes from the
    database client's own environment (PGPASSWORD, ~/.pgpass, MYSQL_PWD) instead."""
    if not storage:
        return f"sqlite:///{(sweep_dir / DEFAULT_STORAGE).resolve()}"
    from sqlalchemy.engine import make_url

    if "://" in storage and make_url(storage).password:
        raise FtlabError(
            "hydra.sweeper.storage holds a password, which every job's config.yaml would "
            "record: give it to the database client instead (PGPASSWORD or ~/.pgpass for "
            "PostgreSQL, MYSQL_PWD for MySQL) and leave it out of the URL"
        )
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


class OptunaSearch:
    """The sweeper's work; hydra_plugins/ftlab_optuna_sweeper holds the class Hydra finds."""

    def __init__(
        self,
        *,
        sampler: Any,
        direction: str,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        pruner: str,
        params: DictConfig | None = None,  # none: the command line's sweeps alone
    ) -> None:
        self.sampler = sampler
        self.direction = str(direction)
        self.storage = storage
        self.study_name = study_name
        self.n_trials = int(n_trials)
        self.n_jobs = max(1, int(n_jobs))
        self.max_failure_rate = float(max_failure_rate)
        self.pruner = str(pruner)
        self.params = {str(k): str(v) for k, v in (params or {}).items()}
        self.launcher: Any = None
        self.config: DictConfig | None = None
        self.sweep_dir = Path(".")
        self.job_idx = 0

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.config = config
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        """Ask for `n_jobs` trials at a time, launch them, tell the study how each ended."""
        space, prefixes, fixed = search_space(self.params, arguments)
        url = storage_url(self.storage, self.sweep_dir)  # refused before anything is written
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        # the sweep's composition, as Hydra's basic sweeper records it (what the jobs read
        # to name what their sweep varies: hydra_runtime.swept_overrides)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        if self.storage:
            # a shared or continued study: this worker must not draw the points another worker
            # (or the earlier run) drew from the same seed; Optuna's parallel workers do the same
            self.sampler.reseed_rng()
        study = optuna.create_study(
            study_name=self.study_name,
            storage=open_storage(url),
            sampler=self.sampler,
            pruner=make_pruner(self.pruner),
            direction=self.direction,
            load_if_exists=True,  # a shared or continued study
        )
        identity = [
            f"trial.study={study.study_name}",
            f"trial.storage='{url}'",
            f"trial.pruner={self.pruner}",
        ]
        log.info("Optuna study %s in %s (%s)", study.study_name, url, type(self.sampler).__name__)
        remaining = self.n_trials
        while remaining > 0:
            trials = [_ask(study, space) for _ in range(min(self.n_jobs, remaining))]
            overrides = [
                [
                    *fixed,
                    *(f"{prefixes[key]}{key}={value}" for key, value in trial.params.items()),
                    *identity,
                    f"trial.number={trial.number}",
                ]
                for trial in trials
            ]
            self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            failed = sum(
                not self._tell(study, trial, self.sweep_dir / str(self.job_idx + i))
                for i, trial in enumerate(trials)
            )
            self.job_idx += len(trials)
            remaining -= len(trials)
            if failed / len(trials) > self.max_failure_rate:
                raise FtlabError(
                    f"{failed} of {len(trials)} trials failed, more than "
                    f"hydra.sweeper.max_failure_rate={self.max_failure_rate}: the search stops "
                    f"(each job's error is in its status.json under {self.sweep_dir})"
                )
        write_results(study, url, self.sweep_dir)

    @staticmethod
    def _tell(study: Any, trial: Any, job_dir: Path) -> bool:
        """Tell the study the job's outcome, from its records (whatever launcher ran it);
        False when it failed."""
        job = read_job(job_dir)
        if job.status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        elif job.status == "completed" and job.value is not None and math.isfinite(job.value):
            study.tell(trial, job.value)
        else:
            study.tell(trial, state=TrialState.FAIL)
            return False
        return True


def _ask(study: Any, space: dict[str, BaseDistribution]) -> Any:
    """A new trial with values for the search space; a continued study must keep its space."""
    try:
        return study.ask(space)
    except ValueError as exc:  # Optuna: a key's distribution differs from the study's
        raise FtlabError(
            f"study {study.study_name} searched another space before ({exc}); keep its "
            "hydra.sweeper.params, or start a new study (another hydra.sweeper.study_name)"
        ) from None


def write_results(study: Any, url: str, sweep_dir: Path) -> None:
    """optimization_results.yaml: the study's best trial so far and how its trials ended
    (all of them: a shared study counts the other workers' trials too)."""
    states = [trial.state.name.lower() for trial in study.get_trials(deepcopy=False)]
    record: dict[str, Any] = {
        "name": "optuna",
        "study_name": study.study_name,
        "storage": url,
        "trials": {state: states.count(state) for state in sorted(set(states))},
    }
    if "complete" in states:
        best = study.best_trial
        record.update(best_trial=best.number, best_params=best.params, best_value=best.value)
    write_text_atomic(sweep_dir / OPTUNA_RESULTS, yaml.safe_dump(record, sort_keys=False))
    counts = ", ".join(f"{n} {state}" for state, n in record["trials"].items())
    print(f"Optuna study {study.study_name}: {len(states)} trials ({counts})")
