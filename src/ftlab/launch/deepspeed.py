"""DeepSpeed for `hardware=deepspeed_zero2|3`: the `zero_stage` and `offload_*` keys (ftlab
keys) become the run's deepspeed.json, which TrainingArguments' `deepspeed` field names."""

from __future__ import annotations

import importlib.util
from typing import Any

from omegaconf import DictConfig

from ftlab.errors import FtlabError


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
