"""The one reader of Hydra's runtime state (`HydraConfig`): where this job writes, how it
was composed, and whether it is one job of a sweep. Outside `@hydra.main` (a config
composed in-process) every answer is the neutral one."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _hydra() -> Any | None:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def output_dir() -> Path:
    """This job's run directory (Hydra's `hydra.run.dir`, or the sweep job's subdir)."""
    hydra = _hydra()
    if hydra is None:
        raise RuntimeError("output_dir() needs a job started by @hydra.main")
    return Path(hydra.runtime.output_dir)


def overrides() -> list[str]:
    """This job's command-line overrides (one job's values in a sweep)."""
    hydra = _hydra()
    return list(hydra.overrides.task) if hydra is not None else []


def choices() -> dict[str, str]:
    """Hydra's group choices (`task: intent`, `model: minilm` ...)."""
    hydra = _hydra()
    if hydra is None:
        return {}
    return {k: v for k, v in hydra.runtime.choices.items() if isinstance(v, str)}


def in_multirun() -> bool:
    """True inside a job of a Hydra multirun (`-m`), wherever the launcher runs it."""
    from hydra.types import RunMode

    hydra = _hydra()
    return hydra is not None and hydra.mode == RunMode.MULTIRUN


def sweep_name() -> str | None:
    """The sweep directory's name in a multirun (one tracker group per sweep)."""
    return Path(_hydra().sweep.dir).name if in_multirun() else None


def sweep_job() -> tuple[Any, Any, int]:
    """(launcher config, sweeper config, job number) of this sweep job."""
    hydra = _hydra()
    if hydra is None:
        raise RuntimeError("sweep_job() needs a job started by @hydra.main")
    return hydra.launcher, hydra.sweeper, int(hydra.job.num)


def swept_overrides() -> list[str]:
    """This sweep job's values of the keys its sweep varies (`optimizer.learning_rate=5e-05`):
    the keys given several values (read from the sweep's multirun.yaml) or searched by the
    sweeper (Optuna's `params`); [] outside a sweep."""
    if not in_multirun():
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    hydra = _hydra()
    swept = {str(key) for key in (hydra.sweeper.get("params") or {})}
    record = Path(hydra.sweep.dir) / "multirun.yaml"
    if record.is_file():
        arguments = [str(a) for a in OmegaConf.load(record).hydra.overrides.task]
        parsed = OverridesParser.create().parse_overrides(arguments)
        swept |= {o.key_or_group for o in parsed if o.is_sweep_override()}
    return [o for o in overrides() if o.lstrip("+~").split("=", 1)[0] in swept]
