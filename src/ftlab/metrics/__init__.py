"""Metric modules that ship inside ftlab and load by local path (nothing is downloaded),
and the plain-text metrics table."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

MODULES_DIR = Path(__file__).parent / "modules"


@cache
def load_metric(name: str, config_name: str | None = None) -> Any:
    """An `evaluate` module from `ftlab/metrics/modules/<name>/<name>.py`."""
    import evaluate

    return evaluate.load(str(MODULES_DIR / name), config_name)
