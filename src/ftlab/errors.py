"""The exceptions that reach the user as one line, the closest-key hint, and the one place
that prints the `ftlab: error:` line."""

from __future__ import annotations

import difflib
import errno
import os
import re
import signal
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

ERROR_PREFIX = "ftlab: error:"
_LONGEST_CAUSE = 300  # characters of an outside exception's message kept in the line
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class FtlabError(Exception):
    """A problem with the user's config, data or environment, stated with its fix.

    The message is one line: what is wrong, and what to do about it. Anything else
    (a bug in ftlab or a library) stays an ordinary exception with its traceback.
    """


class RunInterrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint; `resume=` continues it."""

    def __init__(self, signum: int | str) -> None:
        if not isinstance(signum, int):
            # a library that re-raises what it caught as the same type with its own message
            # (OmegaConf, when the signal lands inside a config lookup) passes that message
            found = re.search(r"signal (\d+)", signum)
            signum = int(found.group(1)) if found else int(signal.SIGTERM)
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


def did_you_mean(
    key: str, valid: Iterable[str], prefix: str = "", otherwise: str | None = None
) -> str:
    """'did you mean ...?' for a misspelt key (shown with `prefix`), else `otherwise`, or the
    list of valid keys."""
    names = sorted(valid)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{prefix}{close[0]}'?"
    return otherwise or f"valid keys: {', '.join(names)}"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (library messages often span several)."""
    text = " ".join(str(exc).split())
    if len(text) > _LONGEST_CAUSE:
        text = text[: _LONGEST_CAUSE - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def boundary(stage: str, fix: str = "") -> Iterator[None]:
    """Where ftlab hands control to outside code (a library, the file system): anything that
    fails in there becomes one FtlabError line, `<stage>: <what failed>; <fix>`. The
    original exception stays its cause, for run.log and HYDRA_FULL_ERROR=1."""
    try:
        yield
    except (FtlabError, RunInterrupted):
        raise
    except Exception as exc:
        if _disk_full(exc):
            fix = "free disk space (or raise the quota), then resume= the run"
        raise FtlabError(f"{stage}: {one_line(exc)}" + (f"; {fix}" if fix else "")) from exc


def _disk_full(exc: BaseException) -> bool:
    """A write failed for want of space: an OSError, or a Rust library's (safetensors,
    tokenizers) error that names the OS error."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    return any(f"(os error {code})" in str(exc) for code in _DISK_FULL)


def record_traceback(exc: BaseException, log_file: Path | None) -> None:
    """An FtlabError's cause, in full: appended to the run's log (never on the screen unless
    HYDRA_FULL_ERROR=1 asks for it)."""
    if exc.__cause__ is None:
        return
    text = "".join(traceback.format_exception(exc))
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        print(text, file=sys.stderr)
    if log_file is not None:
        try:
            with open(log_file, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            pass  # the log itself cannot be written (disk full): the status still says why


def print_error(message: str) -> None:
    """The one `ftlab: error: ...` line on stderr."""
    print(f"{ERROR_PREFIX} {message}", file=sys.stderr)


@contextmanager
def one_line_errors(exit_code: int = 1) -> Iterator[None]:
    """An FtlabError raised inside becomes the error line and the exit code."""
    try:
        yield
    except FtlabError as exc:
        print_error(str(exc))
        sys.exit(exit_code)
