"""Where a run's wall time goes (timings.json): seconds per phase (start-up, data, model
loading, training, evaluation and checkpoints inside training, final scoring, saving) and
when each evaluation in training ended. A slow run shows its cause, and benchmarks compare
ftlab with a plain Trainer script phase by phase and measure the time to a metric."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import TrainerCallback

_last_stage_end: float | None = None  # when the previous stage in this process ended


def _stage_start() -> float:
    """When the process started (interpreter, imports, config and checks are start-up), or
    when the previous stage in this process ended (adapt=tapt's masked LM, the previous job
    of a sweep)."""
    import psutil  # a dependency of accelerate

    return _last_stage_end or psutil.Process().create_time()


class LoopPhases(TrainerCallback):
    """Splits `trainer.train()` into evaluation, checkpoint saving and the rest (training).

    An evaluation's time is the Trainer's own `eval_runtime`; a checkpoint's is the time from
    the end of its step (or of that step's evaluation) to `on_save`, which the Trainer calls
    once the checkpoint is written.
    """

    def __init__(self, stage_start: float) -> None:
        self.evaluation = 0.0
        self.checkpoints = 0.0
        self.evaluated: list[dict[str, float]] = []  # step, seconds since the stage began
        self._stage_start = stage_start
        self._mark = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self._mark = time.perf_counter()

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict | None = None, **_: Any
    ) -> None:
        self.evaluation += float((metrics or {}).get("eval_runtime", 0.0))
        self._mark = time.perf_counter()
        seconds = round(time.time() - self._stage_start, 2)
        self.evaluated.append({"step": state.global_step, "seconds": seconds})

    def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        now = time.perf_counter()
        self.checkpoints += now - self._mark
        self._mark = now


class Timings:
    """Seconds per phase, in the order the run went through them."""

    def __init__(self) -> None:
        self.started = _stage_start()
        self.seconds: dict[str, float] = {"startup": time.time() - self.started}
        self.loop = LoopPhases(self.started)
        self.evaluated: list[dict[str, float]] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def split_training(self) -> None:
        """The training phase less the evaluations and checkpoints done inside it."""
        self.seconds["training"] -= self.loop.evaluation + self.loop.checkpoints
        self.seconds["evaluation"] = self.loop.evaluation
        self.seconds["checkpoints"] = self.loop.checkpoints
        self.evaluated = list(self.loop.evaluated)  # not the final scoring's evaluation

    def finish(self) -> dict[str, Any]:
        """The record for timings.json (its phases sum to the stage's wall time, give or
        take the moments between them); a next stage in this process starts from now."""
        global _last_stage_end
        _last_stage_end = time.time()
        return {
            "seconds": {name: round(value, 2) for name, value in self.seconds.items()},
            "evaluations": self.evaluated,
        }

    def summary(self) -> str:
        return ", ".join(f"{name} {value:.1f}" for name, value in self.seconds.items())
