"""The MLflow run of one job (`logger=mlflow`), opened by ftlab before the Trainer exists.

transformers' MLflowCallback finds the active run and logs the Trainer's metrics into it
(and its own TrainingArguments params) instead of starting one; ftlab gives the run its
names (experiment = task, run = run directory), the resolved config as dotted params,
Hydra's choices and the sweep as tags, the final validation / test metrics, and the run's
record files as artifacts. A resumed run continues its MLflow run (mlflow.json).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftlab.config.flatten import flatten
from ftlab.config.paths import resolve_path
from ftlab.config.secrets import redacted_container
from ftlab.records import STATUS_FILE, read_json, run_name, write_json

log = logging.getLogger(__name__)

RUN_FILE = "mlflow.json"  # the store, experiment and run id: resume continues that run
STORE = "mlflow.db"  # the default local store, in output_root
ARTIFACTS = "mlartifacts"  # its artifacts, beside it
# the run's record files logged as artifacts (never the model or checkpoints)
RECORD_SUFFIXES = (".json", ".jsonl", ".yaml", ".conll", ".txt", ".csv")
# status.json still says "running" when the records are logged (MLflow's run status says how
# it ended); a copy of it would also make ftlab.report list the artifact store as a run
NOT_LOGGED = (STATUS_FILE,)
MAX_ARTIFACT_BYTES = 50 * 2**20


def tracking_uri(cfg: DictConfig) -> str | None:
    """logger.mlflow.tracking_uri, else $MLFLOW_TRACKING_URI; None: the local store."""
    return cfg.logger.mlflow.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")


def _local_store(cfg: DictConfig) -> Path:
    """The SQLite store in output_root (no server); its artifacts go beside it."""
    return Path(resolve_path(str(cfg.output_root))).resolve() / STORE


def _experiment_id(mlflow: Any, name: str, local_store: Path | None) -> str:
    """The experiment, created with its artifacts beside a local store (not ./mlruns)."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (local_store.parent / ARTIFACTS).as_uri() if local_store else None
    return mlflow.create_experiment(name, artifact_location=location)


@contextmanager
def mlflow_run(
    cfg: DictConfig, run_dir: Path, main_process: bool, context: dict[str, Any]
) -> Iterator[Any]:
    """The active MLflow run for the job (None without logger=mlflow or off rank 0);
    ended when the block ends, failed or not, so each sweep job gets its own."""
    section = (cfg.get("logger") or {}).get("mlflow")
    if section is None or not main_process:
        yield None
        return
    # MLflow sends usage data to its servers by default: not from an offline training job
    # unless the user asks for it (MLFLOW_DISABLE_TELEMETRY=false)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    remote = tracking_uri(cfg)
    local_store = None if remote else _local_store(cfg)
    uri = remote or f"sqlite:///{local_store}"
    users_uri = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        run = _start_run(mlflow, cfg, run_dir, context, uri, local_store)
        log.info("MLflow: run %s in %s", run.info.run_id, uri)
        try:
            yield run
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
        mlflow.end_run()
    finally:
        # set_tracking_uri also wrote $MLFLOW_TRACKING_URI, which tracking_uri() takes for the
        # user's server: the next job of a sweep in this process would log into this store
        mlflow.set_tracking_uri(users_uri)


def _start_run(
    mlflow: Any,
    cfg: DictConfig,
    run_dir: Path,
    context: dict[str, Any],
    uri: str,
    local_store: Path | None,
) -> Any:
    """The job's run: the one a resumed job started (mlflow.json), else a new one with the
    config as params."""
    saved = run_dir / RUN_FILE
    earlier = read_json(saved) if saved.exists() else {}
    if earlier.get("tracking_uri") == uri:
        return mlflow.start_run(run_id=earlier["run_id"])
    experiment = str(cfg.logger.mlflow.get("experiment") or cfg.task.name)
    run = mlflow.start_run(
        experiment_id=_experiment_id(mlflow, experiment, local_store),
        run_name=run_name(run_dir, context["swept"]),
        tags=_tags(context, run_dir),
    )
    params = {key: str(value) for key, value in flatten(redacted_container(cfg)).items()}
    for start in range(0, len(params), 100):  # MLflow's batch limit
        mlflow.log_params(dict(list(params.items())[start : start + 100]))
    write_json(saved, {"tracking_uri": uri, "run_id": run.info.run_id})
    return run


def _tags(context: dict[str, Any], run_dir: Path) -> dict[str, str]:
    tags = {f"choice.{group}": str(option) for group, option in context["choices"].items()}
    if context.get("sweep"):
        tags["sweep"] = str(context["sweep"])
    return {**tags, "run_dir": str(run_dir.resolve())}


def log_final(run: Any, metrics: dict[str, dict[str, float]], step: int) -> None:
    """The final validation and test metrics (eval_accuracy, test_f1_macro ...)."""
    if run is None:
        return
    import mlflow

    # the split's own metrics: not the `epoch` a validation record carries, which would
    # break the Trainer's epoch curve
    final = {
        name: float(value)
        for prefix, split in (("eval_", "validation"), ("test_", "test"))
        for name, value in metrics[split].items()
        if name.startswith(prefix) and isinstance(value, (int, float))
    }
    mlflow.log_metrics(final, step=step)
    pruned = metrics["train"].get("pruned_at_step")
    if pruned is not None:  # an Optuna search stopped it early (training/trial.py)
        mlflow.set_tag("status", "pruned")
        mlflow.log_metric("pruned_at_step", float(pruned))


def log_records(run: Any, run_dir: Path, log_artifacts: bool) -> None:
    """The run's record files (config, metrics, reports, predictions) as artifacts."""
    if run is None or not log_artifacts:
        return
    import mlflow

    for path in sorted(run_dir.iterdir()):
        record = path.is_file() and path.suffix in RECORD_SUFFIXES and path.name not in NOT_LOGGED
        if record and path.stat().st_size <= MAX_ARTIFACT_BYTES:
            mlflow.log_artifact(str(path))
