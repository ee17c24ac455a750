"""Start the ranks of a multi-process run with `accelerate launch`, and learn how they ended.

The parent process has already composed the config and written it to the run directory;
it starts `python -m ftlab.launch.worker RUN_DIR` on every rank through Accelerate with an
Accelerate config file written next to it, so a user's own `accelerate config` defaults
never change a run, and the exact launch can be repeated by hand from the run directory.

A rank that raises writes `rank-N.error` (JSON) before it exits; the launcher (torch's
elastic agent) then stops the other ranks within about a second. The parent reads the
error files and fails the job with the first rank's error.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from ftlab.errors import FtlabError
from ftlab.launch.plan import LaunchPlan
from ftlab.records import read_json, write_json, write_text_atomic

log = logging.getLogger(__name__)

# one per machine: the machines of a multi-machine run share the run directory
ACCELERATE_FILE = "accelerate-machine{machine_rank}.yaml"
WORKER_MODULE = "ftlab.launch.worker"
RANK_ERROR = "rank-{rank}.error"


def accelerate_config(plan: LaunchPlan) -> dict[str, Any]:
    """The `accelerate launch --config_file` contents for `plan`."""
    return {
        "compute_environment": "LOCAL_MACHINE",
        # Accelerate's name for multi-process DDP. Without GPUs the ranks run on CPU with the
        # gloo backend; `--cpu` instead would silently start a single process.
        "distributed_type": "MULTI_GPU",
        "num_processes": plan.world_size,  # Accelerate counts the processes of all machines
        "num_machines": plan.num_machines,
        "machine_rank": plan.machine_rank,
        "main_process_ip": plan.main_process_ip,
        # 0: Accelerate picks a free port, so runs on one machine never collide
        "main_process_port": plan.main_process_port or 0,
        "same_network": True,
        "rdzv_backend": "static",
        "gpu_ids": "all",
        # precision comes from TrainingArguments (bf16/fp16), which the Trainer hands to
        # Accelerate itself; FSDP and DeepSpeed likewise come from TrainingArguments
        "mixed_precision": "no",
        "dynamo_config": {"dynamo_backend": "NO"},
        "use_cpu": False,
        "debug": False,
    }


def launch_command(config_file: Path, run_dir: Path, resume_from: Path | None = None) -> list[str]:
    """`accelerate launch` (from this interpreter's environment) on the worker module."""
    resume = [str(resume_from)] if resume_from else []
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config_file),
        "--module",
        WORKER_MODULE,
        str(run_dir),
        *resume,
    ]


def run_workers(plan: LaunchPlan, run_dir: Path, resume_from: Path | None = None) -> None:
    """Start this machine's ranks and wait; a failed rank raises FtlabError with its error."""
    config_file = run_dir / ACCELERATE_FILE.format(machine_rank=plan.machine_rank)
    write_text_atomic(config_file, yaml.safe_dump(accelerate_config(plan)))
    command = launch_command(config_file, run_dir, resume_from)
    log.info(
        "starting %d processes on this machine (%d in all, machine %d of %d): %s",
        plan.num_processes,
        plan.world_size,
        plan.machine_rank,
        plan.num_machines,
        " ".join(command),
    )
    # stdin closed: no rank can ever wait for input
    returncode = subprocess.run(command, stdin=subprocess.DEVNULL, check=False).returncode
    if returncode != 0:
        raise FtlabError(first_rank_error(run_dir) or launcher_failure(returncode))


def launcher_failure(returncode: int) -> str:
    return (
        f"accelerate launch exited with code {returncode} and no rank recorded an error; "
        "see the launcher's output above"
    )


def write_rank_error(run_dir: Path, rank: int, exc: BaseException) -> None:
    """Record why this rank failed, for the parent to report."""
    write_json(
        run_dir / RANK_ERROR.format(rank=rank),
        {
            "rank": rank,
            "time": time.time(),
            "error": _error_line(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        },
    )


def _error_line(exc: BaseException) -> str:
    """FtlabError messages as they are; anything else with its type, as in a traceback."""
    if isinstance(exc, FtlabError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def first_rank_error(run_dir: Path) -> str | None:
    """The error of the rank that failed first (the others often fail because of it)."""
    # written atomically: a rank killed mid-write leaves only a hidden temporary file
    records = [read_json(path) for path in run_dir.glob(RANK_ERROR.format(rank="*"))]
    if not records:
        return None
    first = min(records, key=lambda r: r["time"])
    return f"rank {first['rank']} failed: {first['error']}"
