"""`resume=auto` and `resume=RUN_DIR`: continue an unfinished run in its own run directory.

Handled on the command line, before Hydra composes: the job must land in the run
directory it continues (so checkpoints, logs and records stay together), and Hydra must
not overwrite that directory's `.hydra/` record of the original composition.

In a multirun (`-m`), `resume=auto` or `resume=SWEEP_DIR` reruns the sweep in its own
sweep directory: each job whose directory holds a completed run with the same config is
skipped, one with a checkpoint continues from it, and the others run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ftlab.config.secrets import redacted_container
from ftlab.errors import FtlabError
from ftlab.job.run_dirs import KEPT_STATES
from ftlab.records import CONFIG_FILE, last_checkpoint, read_json
from ftlab.run_lock import run_status

_HYDRA_PREFIXES = ("hydra.", "hydra/", "--", "-")
_MULTIRUN_FLAGS = ("-m", "--multirun")
_SEARCH_PREFIXES = ("hparams_search=", "hydra/sweeper=")
SWEEP_CONFIG = "multirun.yaml"  # Hydra's record of a sweep's composition and overrides


def _split_resume(args: list[str]) -> tuple[str | None, list[str]]:
    values = [a.split("=", 1)[1] for a in args if a.startswith("resume=")]
    rest = [a for a in args if not a.startswith("resume=")]
    value = values[-1] if values else None
    return (None if value in (None, "", "null", "none") else value), rest


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "resume"}


def find_unfinished_run(overrides: list[str]) -> Path | None:
    """The newest run with the same resolved config that did not complete and has a checkpoint."""
    from ftlab.config.compose import compose_config

    cfg = compose_config(overrides)
    wanted = _comparable(redacted_container(cfg))
    runs = Path(cfg.output_root) / "runs" / cfg.task.name / cfg.model.name
    for run_dir in sorted(runs.glob("*"), reverse=True):  # names start with the start time
        if last_checkpoint(run_dir) and _unfinished_run(run_dir, wanted):
            return run_dir
    return None


def _unfinished_run(run_dir: Path, wanted: dict[str, Any]) -> bool:
    """`run_dir` holds a run of the `wanted` config that did not complete and whose process
    is gone (a live one is left to finish)."""
    record, config_file = run_status(run_dir), run_dir / CONFIG_FILE
    if record is None or not config_file.exists():
        return False
    if record.get("status") in KEPT_STATES:
        return False
    saved = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True)
    return _comparable(saved) == wanted


def earlier_job(cfg: Any, run_dir: Path) -> tuple[str, Path | None] | None:
    """A resumed sweep's earlier attempt at this job: (its status, its last checkpoint).

    None when the job directory holds no run, or one with a different resolved config
    (the sweep's overrides changed): that job then runs afresh.
    """
    record, config_file = run_status(run_dir), run_dir / CONFIG_FILE
    if record is None or not config_file.exists():
        return None
    wanted = _comparable(redacted_container(cfg))
    saved = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True)
    if _comparable(saved) != wanted:
        return None
    return record.get("status", "unknown"), last_checkpoint(run_dir)


def _named_unfinished(args: list[str]) -> Path | None:
    """`resume=auto hydra.run.dir=DIR`: DIR, when it holds an unfinished run of these
    overrides whose process is gone (killed, say, and started again by the same command)."""
    from ftlab.config.compose import compose_config

    named = [a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")]
    if not named or "${" in named[-1]:
        return None
    run_dir = Path(named[-1]).expanduser()
    record = run_status(run_dir)
    if record is None:
        return None
    wanted = _comparable(redacted_container(compose_config(_task_overrides(args))))
    if _unfinished_run(run_dir, wanted):
        return run_dir
    why = {
        "completed": "a completed run; name another hydra.run.dir",
        "pruned": "a run its search pruned; name another hydra.run.dir",
        "running": "a live run; wait for it to end, or name another hydra.run.dir",
    }.get(
        str(record.get("status")),
        f"an unfinished run of another config; resume={run_dir} continues it with its own config",
    )
    raise FtlabError(f"resume=auto: {run_dir} (hydra.run.dir) holds {why}")


def _task_overrides(args: list[str]) -> list[str]:
    return [a for a in args if not a.startswith(_HYDRA_PREFIXES) and not a.startswith("resume=")]


def _unfinished(sweep_dir: Path) -> bool:
    """No summary yet (stopped before the end), or a summary with failed jobs."""
    from ftlab.job.sweep import SUMMARY_JSON

    summary = sweep_dir / SUMMARY_JSON
    return not summary.exists() or bool(read_json(summary).get("failed"))


def find_unfinished_sweep(args: list[str]) -> Path | None:
    """The newest sweep with the same overrides that was stopped or had failed jobs."""
    from ftlab.config.compose import compose_config

    root = compose_config([a for a in args if a.startswith("output_root=")])
    wanted = _task_overrides(args)
    for sweep_dir in sorted((Path(root.output_root) / "multirun").glob("*"), reverse=True):
        saved = sweep_dir / SWEEP_CONFIG
        if not saved.exists() or not _unfinished(sweep_dir):
            continue
        overrides = list(OmegaConf.load(saved).hydra.overrides.task)
        if _task_overrides(overrides) == wanted:
            return sweep_dir
    return None


def _refuse_search(args: list[str]) -> None:
    """Optuna samples new trials on every start: job N would not be the same job again."""
    if any(a.startswith(_SEARCH_PREFIXES) for a in args):
        raise FtlabError(
            "resume= reruns grid sweeps; an Optuna search continues from its study instead: "
            "hydra.sweeper.storage=sqlite:///PATH hydra.sweeper.study_name=NAME"
        )


def _resumed_dir(
    value: str, rest: list[str], find: Callable[[list[str]], Path | None], kind: str, record: str
) -> Path | None:
    """The directory `resume=auto|DIR` names: for `auto` the newest unfinished `kind` with
    these overrides (None, said in one line: start afresh); a DIR must hold `record`, and
    then no other overrides may be given (it reruns with its own)."""
    if value == "auto":
        found = _named_unfinished(rest) if kind == "run" else None
        found = found or find(rest)
        if found is None:
            print(f"ftlab: resume=auto: no unfinished {kind} with these overrides; starting anew")
        return found
    path = Path(value).expanduser()
    if not (path / record).is_file():
        raise FtlabError(f"resume={value}: not a {kind} directory (no {record} in it)")
    extra = _task_overrides(rest)
    if extra:
        raise FtlabError(
            f"resume={value} reruns that {kind} with its saved config; drop the other "
            f"overrides ({' '.join(extra)})"
        )
    return path


def _resume_sweep(value: str, rest: list[str]) -> list[str]:
    """`-m ... resume=auto|SWEEP_DIR`: rerun the sweep in its directory (jobs decide alone)."""
    _refuse_search(rest)
    sweep_dir = _resumed_dir(value, rest, find_unfinished_sweep, "sweep", SWEEP_CONFIG)
    if sweep_dir is None:
        return rest
    if value != "auto":
        saved = [str(o) for o in OmegaConf.load(sweep_dir / SWEEP_CONFIG).hydra.overrides.task]
        _refuse_search(saved)
        rest = [*rest, *_task_overrides(saved)]
    print(f"ftlab: resuming sweep {sweep_dir}")
    return [*rest, f"hydra.sweep.dir={sweep_dir}", f"resume={sweep_dir}"]


def resume_overrides(args: list[str]) -> list[str]:
    """Rewrite `resume=...` into overrides that run the job inside the run it continues."""
    value, rest = _split_resume(args)
    if value is None:
        return rest
    if any(a in _MULTIRUN_FLAGS for a in rest):
        return _resume_sweep(value, rest)
    run_dir = _resumed_dir(value, rest, find_unfinished_run, "run", CONFIG_FILE)
    if run_dir is None:
        return rest
    print(f"ftlab: resuming {run_dir}")
    return [*rest, f"hydra.run.dir={run_dir}", "hydra.output_subdir=null", f"resume={run_dir}"]
