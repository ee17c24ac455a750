"""What each rank records about itself: the world it joined, and its peak memory."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftlab.config.secrets import config_digest
from ftlab.errors import FtlabError
from ftlab.records import ENV_FILE, RANK_FILE, update_json, write_json

log = logging.getLogger(__name__)


def record_rank(cfg: DictConfig, args: Any, run_dir: Path) -> None:
    """Each rank records what it sees (world size, config hash); rank 0 also updates env.json.

    The world size comes from the initialised process group, not from the config, so the
    record shows how many processes really trained.
    """
    launched = int(os.environ.get("WORLD_SIZE", "1"))  # set by the launcher
    if args.world_size != launched:
        raise FtlabError(
            f"this rank was started as one of {launched} processes but joined a group of "
            f"{args.world_size}; on a machine without GPUs set hardware.use_cpu=true"
        )
    write_json(
        run_dir / RANK_FILE.format(rank=args.process_index),
        {
            "rank": args.process_index,
            "local_rank": args.local_process_index,
            "world_size": args.world_size,
            "device": str(args.device),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "config_sha256": config_digest(cfg),
        },
    )
    if args.process_index != 0:
        return
    # train_batch_size is per process (per device, times the GPUs of a DataParallel process)
    effective = args.train_batch_size * args.world_size * args.gradient_accumulation_steps
    log.info(
        "effective train batch size %d = %d per process x %d processes x %d accumulation steps",
        effective,
        args.train_batch_size,
        args.world_size,
        args.gradient_accumulation_steps,
    )
    update_json(
        run_dir / ENV_FILE, world_size=args.world_size, effective_train_batch_size=effective
    )


def peak_memory() -> dict[str, float]:
    """This process's peak resident memory (MiB) and, on a GPU, torch's peak allocation."""
    import resource

    import torch

    peak = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        peak["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak
