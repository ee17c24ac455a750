"""What a run writes about itself: status, metrics, environment. Every write is atomic."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ftlab.config import REDACTED, redact_overrides

STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
ENV_FILE = "env.json"
CONFIG_FILE = "config.yaml"
TRAIN_LOG_FILE = "train_log.json"
LOG_FILE = "run.log"  # Hydra's job log (the job is named after the ftlab.run module)
RANK_FILE = "rank-{rank}.json"

_PACKAGES = (
    "ftlab",
    "torch",
    "transformers",
    "datasets",
    "evaluate",
    "accelerate",
    "hydra-core",
    "seqeval",
    "peft",
    "wandb",
    "tensorboard",
)


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# Fields a status update carries over from the previous record (errors do not).
_STATUS_KEPT = ("started", "resumed_from")


def update_json(path: Path, **fields: Any) -> None:
    """Add or replace top-level fields of a JSON record (created when missing)."""
    record = read_json(path) if path.exists() else {}
    record.update(fields)
    write_json(path, record)


def write_status(run_dir: Path, state: str, **extra: Any) -> None:
    """Record `running`, `completed`, `failed` or `interrupted` with a timestamp."""
    now = time.time()
    path = run_dir / STATUS_FILE
    previous = read_json(path) if path.exists() else {}
    record: dict[str, Any] = {"status": state, "updated": now, "pid": os.getpid(), "started": now}
    record.update({k: previous[k] for k in _STATUS_KEPT if k in previous})
    record.update(extra)
    write_json(path, record)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def environment_record(
    world_size: int = 1, seed: int | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """What reproducing the run needs: command, overrides, code version, packages, seed."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    status = _git("status", "--porcelain")
    return {
        "command": redact_overrides([sys.executable, *sys.argv]),
        "overrides": redact_overrides(overrides or []),
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "seed": seed,
        "world_size": world_size,
    }


def peak_memory() -> dict[str, float]:
    """This process's peak resident memory (MiB) and, on a GPU, torch's peak allocation."""
    import resource

    import torch

    peak = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        peak["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def scrub_secrets(folder: Path, secrets: set[str]) -> None:
    """Replace every secret string in the text files under `folder` (Hydra's `.hydra/` record
    holds the overrides as typed, tokens included)."""
    if not secrets or not folder.is_dir():
        return
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        cleaned = text
        for secret in secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != text:
            write_text_atomic(path, cleaned)
