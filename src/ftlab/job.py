"""One job's life cycle around `train`: validate, record, report, and fail cleanly."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ftlab.config import resolved_yaml, secret_values, validate
from ftlab.errors import FtlabError, RunInterrupted
from ftlab.records import (
    CONFIG_FILE,
    ENV_FILE,
    environment_record,
    scrub_secrets,
    write_json,
    write_status,
    write_text_atomic,
)
from ftlab.resume import last_checkpoint

log = logging.getLogger("ftlab")


def run_job(cfg: DictConfig, run_dir: Path) -> float | None:
    """Validate, train and record one job in `run_dir`; return the main validation metric.

    A FtlabError (bad config, data or environment) ends the process with one line on
    stderr, exit code 1 and status `failed`; other exceptions keep their traceback.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    scrub_secrets(run_dir / ".hydra", secret_values(cfg))
    started = time.time()
    resume_from = None
    try:
        if cfg.get("resume"):
            # the run's own saved config, not a fresh composition; its records stay as written
            cfg = OmegaConf.load(run_dir / CONFIG_FILE)
            resume_from = last_checkpoint(run_dir)
            validate(cfg)
            write_status(run_dir, "running", resumed_from=str(resume_from) if resume_from else None)
        else:
            validate(cfg)
            write_text_atomic(run_dir / CONFIG_FILE, resolved_yaml(cfg))
            write_json(
                run_dir / ENV_FILE,
                environment_record(seed=cfg.trainer.get("seed"), overrides=_hydra_overrides()),
            )
            write_status(run_dir, "running")
        from ftlab.train import train

        metrics = train(cfg, run_dir, resume_from=resume_from)
    except RunInterrupted as exc:
        write_status(
            run_dir,
            "interrupted",
            signal=exc.signum,
            checkpoint=str(last_checkpoint(run_dir)),
            seconds=round(time.time() - started, 1),
        )
        print(
            f"ftlab: interrupted; continue with: python -m ftlab.run resume={run_dir}",
            file=sys.stderr,
        )
        sys.exit(128 + exc.signum)
    except FtlabError as exc:
        write_status(run_dir, "failed", error=str(exc), seconds=round(time.time() - started, 1))
        log.error("%s", exc)
        print(f"ftlab: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        write_status(run_dir, "interrupted", seconds=round(time.time() - started, 1))
        raise
    except BaseException as exc:
        write_status(
            run_dir,
            "failed",
            error=f"{type(exc).__name__}: {exc}",
            seconds=round(time.time() - started, 1),
        )
        raise
    seconds = time.time() - started
    write_status(run_dir, "completed", seconds=round(seconds, 1))
    print(summary_table(metrics, run_dir, seconds))
    return metrics["validation"].get(f"eval_{cfg.task.main_metric}")


def _hydra_overrides() -> list[str]:
    """This job's command-line overrides (one job's values in a sweep); [] outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def summary_table(metrics: dict[str, dict[str, float]], run_dir: Path, seconds: float) -> str:
    """Validation and test metrics side by side, then where the run lives."""
    names = sorted(
        {k.removeprefix("eval_") for k in metrics["validation"]}
        | {k.removeprefix("test_") for k in metrics["test"]}
    )
    names = [n for n in names if not n.endswith(("runtime", "per_second")) and n != "epoch"]
    lines = [f"{'metric':<16}{'validation':>12}{'test':>12}"]
    for name in names:
        cells = [metrics["validation"].get(f"eval_{name}"), metrics["test"].get(f"test_{name}")]
        lines.append(
            f"{name:<16}"
            + "".join(f"{c:>12.4f}" if isinstance(c, (int, float)) else f"{'-':>12}" for c in cells)
        )
    lines.append(f"finished in {seconds:.0f}s; run directory: {run_dir}")
    return "\n".join(lines)
