"""Local parallel sweeps: every job running at once on this machine gets its own devices.

`hydra/launcher=submitit_local hydra.sweeper.max_batch_size=N` runs the sweep's jobs N at
a time, each in a fresh process, and waits for a batch to end before the next starts. So
a job's slot is its number modulo N, and no two jobs running together share a slot: slot
k gets the k-th 1/N of the machine's GPUs (as CUDA_VISIBLE_DEVICES), or without GPUs the
k-th 1/N of its CPU cores (as the process's CPU affinity and thread count). Submitit's own
`gpus_per_node` would give every local job the same first GPUs, so ftlab sets them here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from ftlab.errors import FtlabError

# the GPUs of the machine, recorded by the sweep's parent before job processes start
# (submitit sets each job's CUDA_VISIBLE_DEVICES itself, hiding the others)
MACHINE_GPUS = "FTLAB_MACHINE_GPUS"
_LOCAL_LAUNCHERS = ("hydra_submitit_launcher.submitit_launcher.LocalLauncher",)


def _visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES, else what nvidia-smi lists.

    nvidia-smi rather than torch: the sweep's parent never needs to import torch.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def record_machine_devices() -> None:
    """In the sweep's parent: note the machine's GPUs for the job processes it starts."""
    os.environ.setdefault(MACHINE_GPUS, ",".join(_visible_gpus()))


def slot_share(items: list[Any], slot: int, slots: int, what: str) -> list[Any]:
    """The `slot`-th of `slots` equal, disjoint shares of `items`."""
    per = len(items) // slots
    if per == 0:
        raise FtlabError(
            f"{slots} jobs at once need at least {slots} {what}, this machine has "
            f"{len(items)}; lower hydra.sweeper.max_batch_size (or n_jobs for Optuna)"
        )
    return items[slot * per : (slot + 1) * per]


def jobs_at_once(launcher: Any, sweeper: Any) -> int | None:
    """How many jobs a local parallel launcher runs together; None for other launchers."""
    if not str(launcher.get("_target_", "")).endswith(_LOCAL_LAUNCHERS):
        return None
    # the basic sweeper's batch size, or the Optuna sweeper's trials asked at once
    slots = sweeper.get("max_batch_size") or sweeper.get("n_jobs")
    if not slots:
        raise FtlabError(
            "hydra/launcher=submitit_local starts a whole batch of jobs at once: set "
            "hydra.sweeper.max_batch_size=N to run N jobs at a time, each on its own GPU or cores"
        )
    return int(slots)


def pin_job(launcher: Any, sweeper: Any, job_number: int) -> dict[str, Any] | None:
    """Pin this sweep job to its slot's GPUs or CPU cores; what it got, or None (no pinning).

    Runs before torch is imported in the job's process, so CUDA and the thread pools see
    only the slot's share.
    """
    slots = jobs_at_once(launcher, sweeper)
    if slots is None:
        return None
    slot = job_number % slots
    record: dict[str, Any] = {"slot": slot, "slots": slots}
    gpus = [g for g in os.environ.get(MACHINE_GPUS, "").split(",") if g]
    if gpus:
        record["gpus"] = slot_share(gpus, slot, slots, "GPUs")
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(record["gpus"])
    else:
        cores = slot_share(sorted(os.sched_getaffinity(0)), slot, slots, "CPU cores")
        os.sched_setaffinity(0, cores)
        os.environ["OMP_NUM_THREADS"] = str(len(cores))  # torch's intra-op threads
        record["cpus"] = cores
    return record
