"""`python -m ftlab.launch.worker RUN_DIR [CHECKPOINT]`: one rank of a multi-process run.

A worker never composes Hydra: it reads the config the parent resolved into RUN_DIR, so
every rank trains on the same config and writes into the same run directory. It runs the
same `train()` as a single-process run. Rank 0 logs at INFO to the console and to
run.log; the other ranks log warnings and errors only.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from omegaconf import OmegaConf

from ftlab.errors import FtlabError
from ftlab.launch.accelerate import write_rank_error
from ftlab.records import CONFIG_FILE, LOG_FILE

log = logging.getLogger("ftlab.worker")
LOG_FORMAT = "[%(asctime)s][rank {rank}][%(name)s][%(levelname)s] - %(message)s"


def _setup_logging(run_dir: Path, rank: int) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if rank == 0:
        # the parent's Hydra log file: the run keeps one log, parent and rank 0 together
        handlers.append(logging.FileHandler(run_dir / LOG_FILE))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=LOG_FORMAT.format(rank=rank),
        handlers=handlers,
    )


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(
            "usage: python -m ftlab.launch.worker RUN_DIR [CHECKPOINT]"
            "  (started by python -m ftlab.run)"
        )
    run_dir = Path(sys.argv[1])
    resume_from = Path(sys.argv[2]) if len(sys.argv) == 3 else None
    rank = int(os.environ.get("RANK", "0"))  # set by the launcher for every rank
    _setup_logging(run_dir, rank)
    try:
        cfg = OmegaConf.load(run_dir / CONFIG_FILE)
        from ftlab.training.train import train

        train(cfg, run_dir, resume_from=resume_from)
    except BaseException as exc:
        write_rank_error(run_dir, rank, exc)
        if isinstance(exc, FtlabError):
            # one line here; the parent prints the run's `ftlab: error:` line from the file
            log.error("%s", exc)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
