"""The `hardware` group beyond TrainingArguments: how many processes, where, and DeepSpeed.

The launch keys (`num_processes`, `num_machines`, ...) and the DeepSpeed keys (`zero_stage`,
`offload_*`) are ftlab keys (FTLAB_KEYS in training_fields.py); everything else in the group
goes to TrainingArguments unchanged. Nothing here imports torch unless it must count GPUs.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.errors import FtlabError

log = logging.getLogger(__name__)

DEEPSPEED_FILE = "deepspeed.json"
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


def deepspeed_config(hardware: DictConfig) -> dict[str, Any] | None:
    """The DeepSpeed JSON config for `zero_stage` 1-3, or None when DeepSpeed is not asked for.

    Values are "auto" wherever TrainingArguments already holds them (batch sizes,
    accumulation, clipping, precision): the Trainer fills them in, so the JSON can never
    disagree with the rest of the config. No optimizer or scheduler section: the
    `optimizer` and `scheduler` groups stay in charge, as in every other ftlab run.
    """
    stage = hardware.get("zero_stage")
    if stage is None:
        return None
    if hardware.get("deepspeed"):
        raise FtlabError(
            "set either hardware.zero_stage (ftlab writes deepspeed.json) or "
            "hardware.deepspeed=FILE (your own DeepSpeed config), not both"
        )
    if stage not in (1, 2, 3):
        raise FtlabError(f"hardware.zero_stage must be 1, 2 or 3, got {stage!r}")
    if importlib.util.find_spec("deepspeed") is None:
        raise FtlabError(
            "DeepSpeed is not installed: pip install 'ftlab[deepspeed]' "
            "(on a CUDA machine), or use hardware=fsdp"
        )
    zero: dict[str, Any] = {
        "stage": stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
    }
    if hardware.get("offload_optimizer"):
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        # let the Trainer's own optimizer run on the offloaded state (slower than
        # DeepSpeed's CPUAdam, but the optimizer group keeps meaning what it says)
        config["zero_force_ds_cpu_optimizer"] = False
    if stage == 3:
        zero["stage3_prefetch_bucket_size"] = "auto"
        zero["stage3_param_persistence_threshold"] = "auto"
        # model/ gets full weights, loadable without DeepSpeed
        zero["stage3_gather_16bit_weights_on_model_save"] = True
        if hardware.get("offload_param"):
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return config


def deepspeed_path(run_dir: Path) -> Path:
    return run_dir / DEEPSPEED_FILE
