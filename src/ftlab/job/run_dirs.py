"""Where runs go, checked before Hydra writes anything there: a directory that holds a
completed (or running) run is never written into again, and the folders a run needs can
be created. Hydra's default directories (time + random id) never collide; these checks are
for the directories a user names (`hydra.run.dir=`, `hydra.sweep.dir=`, `output_root=`)."""

from __future__ import annotations

from pathlib import Path

from ftlab.errors import FtlabError, boundary
from ftlab.records import FINISHED_STATES, STATUS_FILE
from ftlab.run_lock import claim, run_status

# a run in one of these states has results (or a live process) that a new run would overwrite
KEPT_STATES = (*FINISHED_STATES, "running")
# command-line flags that only print (no run, nothing to create)
_PRINT_ONLY = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--shell-completion")


def run_state(run_dir: Path) -> str | None:
    """The status of a directory's run as it stands now (a `running` one whose process is
    gone reads as interrupted), or None when it holds no ftlab run."""
    record = run_status(run_dir)
    return None if record is None else str(record.get("status"))


def refuse_to_overwrite(run_dir: Path) -> None:
    """A one-line error when `run_dir` holds a completed or running run."""
    state = run_state(run_dir)
    if state in KEPT_STATES:
        raise FtlabError(
            f"{run_dir} already holds a {state} run (its {STATUS_FILE}); ftlab never "
            "writes over one: leave out hydra.run.dir (every run gets a new directory), "
            f"choose another, or continue an unfinished run with resume={run_dir}"
        )


def _prints_only(args: list[str]) -> bool:
    return any(a.split("=", 1)[0] in _PRINT_ONLY for a in args)


def _multirun(args: list[str]) -> bool:
    return any(a in ("-m", "--multirun") for a in args)


def _values(args: list[str]) -> dict[str, str]:
    pairs = (a.lstrip("+").split("=", 1) for a in args if "=" in a and not a.startswith("-"))
    return {key: value for key, value in pairs}


def check_output_dirs(args: list[str]) -> None:
    """The command line's run, sweep and output folders, before Hydra writes into them."""
    if _prints_only(args):
        return
    values = _values(args)
    multirun = _multirun(args)
    named = values.get("hydra.sweep.dir" if multirun else "hydra.run.dir")
    if named and "${" in named:
        named = None  # an interpolation: Hydra's to resolve
    # resume= decides which runs continue; machines 1.. of a multi-machine run share
    # machine 0's run directory and write no records
    secondary = values.get("hardware.machine_rank", "0") not in ("0", "null")
    if named and "resume" not in values and not secondary:
        target = Path(named).expanduser()
        for run_dir in [target, *(target.glob("*") if multirun else [])]:
            refuse_to_overwrite(run_dir)
    folder = named or values.get("output_root", "experiments")
    if "${" in folder:
        return
    key = "hydra.sweep.dir" if multirun and named else "hydra.run.dir" if named else "output_root"
    with boundary(f"cannot create {folder}", f"choose another {key}"):
        Path(folder).expanduser().mkdir(parents=True, exist_ok=True)


def single_run(args: list[str]) -> bool:
    """A command line that runs one job (not a sweep, not a print-only flag)."""
    return not _multirun(args) and not _prints_only(args)


def claim_named_run_dir(args: list[str]) -> Path | None:
    """A named run directory (`hydra.run.dir`, or one resume= sets), or a sweep's named
    `hydra.sweep.dir`, is claimed before Hydra writes its record there: of two processes
    started on one directory, one proceeds and the other stops here with one line. (Each
    of a sweep's jobs claims its own directory as it starts.) Machines 1.. of a
    multi-machine run share machine 0's directory and claim nothing. Returns what it
    claimed."""
    if _prints_only(args):
        return None
    values = _values(args)
    key = "hydra.sweep.dir" if _multirun(args) else "hydra.run.dir"
    named = values.get(key)
    secondary = values.get("hardware.machine_rank", "0") not in ("0", "null")
    if not named or "${" in named or secondary:
        return None
    with boundary(f"cannot create {named}", f"choose another {key}"):
        claim(Path(named))
    return Path(named)
