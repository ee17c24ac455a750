"""What the parent process records about a job: its status, its environment, and Hydra's
own record of it cleaned of secrets."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ftlab.config.secrets import REDACTED, redact_overrides
from ftlab.records import STATUS_FILE, read_json, write_json, write_text_atomic

_PACKAGES = (
    "ftlab",
    "torch",
    "transformers",
    "datasets",
    "evaluate",
    "accelerate",
    "hydra-core",
    "optuna",
    "seqeval",
    "peft",
    "wandb",
    "tensorboard",
)

# Fields a status update carries over from the previous record (errors do not).
_STATUS_KEPT = ("started", "resumed_from")


def write_status(run_dir: Path, state: str, **extra: Any) -> None:
    """Record `running`, `completed`, `pruned` (an Optuna search stopped it early), `failed`
    or `interrupted` with a timestamp."""
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
