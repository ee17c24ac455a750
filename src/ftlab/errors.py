"""The one exception type that reaches the user as a single line instead of a traceback."""


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
