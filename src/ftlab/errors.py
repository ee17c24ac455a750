"""The exceptions that reach the user as one line, the closest-key hint, and the one place
that prints the `ftlab: error:` line."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

ERROR_PREFIX = "ftlab: error:"


class FtlabError(Exception):
    """A problem with the user's config, data or environment, stated with its fix.

    The message is one line: what is wrong, and what to do about it. Anything else
    (a bug in ftlab or a library) stays an ordinary exception with its traceback.
    """


class RunInterrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint; `resume=` continues it."""

    def __init__(self, signum: int) -> None:
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
