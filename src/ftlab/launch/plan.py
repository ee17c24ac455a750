"""The launch keys of the `hardware` group: how many processes, on which machines.

`num_processes`, `num_machines`, ... are ftlab keys (FTLAB_KEYS in ftlab/config/fields.py);
everything else in the group goes to TrainingArguments unchanged. Nothing here imports
torch unless it must count GPUs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from ftlab.errors import FtlabError

log = logging.getLogger(__name__)

# torchrun's usual rendezvous port, for machines that must agree on one in advance
DEFAULT_MULTI_MACHINE_PORT = 29500


@dataclass(frozen=True)
class LaunchPlan:
    """Where the ranks of one run live: `num_processes` on each of `num_machines`."""

    num_processes: int
    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str | None = None
    main_process_port: int | None = None

    @property
    def world_size(self) -> int:
        return self.num_processes * self.num_machines

    @property
    def distributed(self) -> bool:
        """More than one process in all: start workers through `accelerate launch`."""
        return self.world_size > 1

    @property
    def main_machine(self) -> bool:
        """Machine 0 holds rank 0, which writes the run's records."""
        return self.machine_rank == 0


def _positive_int(hardware: DictConfig, key: str, default: int) -> int:
    value = hardware.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FtlabError(f"hardware.{key} must be a whole number of at least 1, got {value!r}")
    return value


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def launch_plan(hardware: DictConfig) -> LaunchPlan:
    """Read and check the launch keys; `num_processes: auto` counts the visible GPUs."""
    num_processes = hardware.get("num_processes", 1)
    if num_processes == "auto":
        num_processes = _visible_gpus()
        if num_processes == 0:
            raise FtlabError(
                "hardware.num_processes=auto starts one process per GPU and no GPU is visible; "
                "set hardware.num_processes=N to run N CPU processes"
            )
    else:
        num_processes = _positive_int(hardware, "num_processes", 1)
    num_machines = _positive_int(hardware, "num_machines", 1)
    machine_rank = hardware.get("machine_rank") or 0
    if not isinstance(machine_rank, int) or not 0 <= machine_rank < num_machines:
        raise FtlabError(
            f"hardware.machine_rank must be 0 .. {num_machines - 1} "
            f"(hardware.num_machines={num_machines}), got {machine_rank!r}"
        )
    main_process_ip = hardware.get("main_process_ip")
    if num_machines > 1 and not main_process_ip:
        raise FtlabError(
            "hardware.num_machines > 1 needs the address of machine 0: "
            "set hardware.main_process_ip=HOST on every machine"
        )
    port = hardware.get("main_process_port")
    if port is None and num_machines > 1:
        port = DEFAULT_MULTI_MACHINE_PORT
    return LaunchPlan(
        num_processes=num_processes,
        num_machines=num_machines,
        machine_rank=machine_rank,
        main_process_ip=main_process_ip,
        main_process_port=port,
    )


def cpu_ranks_without_gpus(cfg: DictConfig, plan: LaunchPlan) -> None:
    """Set `hardware.use_cpu` for a multi-process run on a machine without GPUs.

    In one process transformers falls back to the CPU by itself, but Accelerate starts a
    CPU (gloo) process group only when asked: otherwise every rank silently trains alone.
    Set in the parent, before config.yaml is written, so the record says what ran.
    """
    if not plan.distributed or cfg.hardware.get("use_cpu") or cfg.hardware.get("require_cuda"):
        return
    if _visible_gpus() == 0:
        log.info("no GPU visible: the %d ranks train on CPU (gloo)", plan.world_size)
        OmegaConf.update(cfg, "hardware.use_cpu", True, force_add=True)


def check_cuda(hardware: DictConfig) -> None:
    """`require_cuda`: fail at start, with the alternative, when no CUDA device is visible."""
    if hardware.get("require_cuda") and _visible_gpus() == 0:
        raise FtlabError(
            "this hardware config needs a CUDA device and none is visible; "
            "use hardware=cpu or hardware=auto"
        )
