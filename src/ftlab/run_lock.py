"""A run directory's claim: an exclusive lock that the process running in it holds while it
lives, and the status a directory's run has once that is known.

The lock is `flock` on a file in the directory: taken before anything is written there,
so of two processes racing for one directory exactly one proceeds; and released by the
kernel when its process ends, however it ends (SIGKILL, the OOM killer, a reboot), so a
`running` status.json whose lock nobody holds is a run whose process died: it reads as
`interrupted` wherever ftlab reads a status (run-directory checks, resume=auto, the report).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from ftlab.errors import FtlabError
from ftlab.records import STATUS_FILE, read_json

LOCK_FILE = ".ftlab.lock"
# the status a `running` run reads as once its process is gone
DEAD_RUNNING = "interrupted"
# another process's look at the lock (is_live) holds it for microseconds
_CLAIM_TRIES, _CLAIM_PAUSE = 5, 0.02

_held: dict[Path, int] = {}  # run directory -> the open lock file this process holds


def _key(run_dir: Path) -> Path:
    return Path(run_dir).expanduser().resolve()


def claim(run_dir: Path) -> None:
    """Hold `run_dir`'s lock for as long as this process lives (or until `release`);
    a one-line error, with nothing written, when another process holds it."""
    key = _key(run_dir)
    if key in _held:
        return
    key.mkdir(parents=True, exist_ok=True)
    handle = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    for attempt in range(_CLAIM_TRIES):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == _CLAIM_TRIES - 1:
                os.close(handle)
                raise FtlabError(
                    f"{run_dir} is in use by another ftlab process (it holds {LOCK_FILE}); "
                    "leave out hydra.run.dir (every run gets a new directory), choose another, "
                    "or wait for that run to end"
                ) from None
            time.sleep(_CLAIM_PAUSE)
    os.ftruncate(handle, 0)
    os.write(handle, f"{os.getpid()}\n".encode())
    _held[key] = handle


def release(run_dir: Path) -> None:
    """Give up this process's claim (a sweep's job is done; the next one claims its own)."""
    handle = _held.pop(_key(run_dir), None)
    if handle is not None:
        os.close(handle)  # closing the file releases the lock


def is_live(run_dir: Path, pid: int | None = None) -> bool:
    """Whether the process that wrote the directory's status (`pid`) still runs there: a
    process holds its lock (another one; or this one, when it wrote that status: a status
    another process left in a directory this one has just claimed is stale)."""
    key = _key(run_dir)
    if key in _held:
        return pid == os.getpid()
    try:
        handle = os.open(key / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # never claimed (an ftlab run from before claims, or no run)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(handle)
    return False


def run_status(run_dir: Path) -> dict | None:
    """status.json as its run stands now: a `running` record whose process is gone reads as
    `interrupted` (with `process_gone: true`); None when the directory holds no status."""
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        return None
    try:
        record = dict(read_json(path))
    except (OSError, ValueError):
        return {"status": "unknown"}
    if record.get("status") == "running" and not is_live(run_dir, record.get("pid")):
        record.update(status=DEAD_RUNNING, process_gone=True)
    return record
