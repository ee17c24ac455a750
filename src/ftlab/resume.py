"""`resume=auto` and `resume=RUN_DIR`: continue an unfinished run in its own run directory.

Handled on the command line, before Hydra composes: the job must land in the run
directory it continues (so checkpoints, logs and records stay together), and Hydra must
not overwrite that directory's `.hydra/` record of the original composition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ftlab.errors import FtlabError
from ftlab.records import CONFIG_FILE, STATUS_FILE, read_json

_HYDRA_PREFIXES = ("hydra.", "hydra/", "--", "-")


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest `checkpoint-<step>` folder of a run, by step."""
    checkpoints = [p for p in run_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _split_resume(args: list[str]) -> tuple[str | None, list[str]]:
    values = [a.split("=", 1)[1] for a in args if a.startswith("resume=")]
    rest = [a for a in args if not a.startswith("resume=")]
    value = values[-1] if values else None
    return (None if value in (None, "", "null", "none") else value), rest


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "resume"}


def find_unfinished_run(overrides: list[str]) -> Path | None:
    """The newest run with the same resolved config that did not complete and has a checkpoint."""
    from hydra import compose, initialize_config_module

    from ftlab.config import redact

    with initialize_config_module("ftlab.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    wanted = _comparable(redact(OmegaConf.to_container(cfg, resolve=True)))
    runs = Path(cfg.output_root) / "runs" / cfg.task.name / cfg.model.name
    for run_dir in sorted(runs.glob("*"), reverse=True):  # names start with the start time
        status_file, config_file = run_dir / STATUS_FILE, run_dir / CONFIG_FILE
        if not (status_file.exists() and config_file.exists() and last_checkpoint(run_dir)):
            continue
        if read_json(status_file).get("status") == "completed":
            continue
        saved = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True)
        if _comparable(saved) == wanted:
            return run_dir
    return None


def resume_overrides(args: list[str]) -> list[str]:
    """Rewrite `resume=...` into overrides that run the job inside the run it continues."""
    value, rest = _split_resume(args)
    if value is None:
        return rest
    if value == "auto":
        run_dir = find_unfinished_run(rest)
        if run_dir is None:
            print(
                "ftlab: resume=auto: no unfinished run with this config and a checkpoint; "
                "starting a new run"
            )
            return rest
    else:
        run_dir = Path(value).expanduser()
        if not (run_dir / CONFIG_FILE).is_file():
            raise FtlabError(f"resume={value}: not a run directory (no {CONFIG_FILE} in it)")
        extra = [a for a in rest if not a.startswith(_HYDRA_PREFIXES)]
        if extra:
            raise FtlabError(
                f"resume={value} continues that run with its saved config; drop the other "
                f"overrides ({' '.join(extra)})"
            )
    print(f"ftlab: resuming {run_dir}")
    return [*rest, f"hydra.run.dir={run_dir}", "hydra.output_subdir=null", f"resume={run_dir}"]
