"""Trainer callbacks ftlab adds: stop on a non-finite loss, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import math
import signal
from typing import Any

import torch
from transformers import TrainerCallback

log = logging.getLogger(__name__)


class StopOnNonFiniteLoss(TrainerCallback):
    """Stop training when the loss or the weights stop being finite.

    It stops before the Trainer saves that state, so the newest checkpoint on disk is the
    last good one; `train.py` turns `bad_step` into an error after `trainer.train()`.
    Needs `logging_nan_inf_filter=false`, or the logged loss hides the NaN.
    """

    def __init__(self) -> None:
        self.bad_step: int | None = None

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **_: Any
    ) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self._stop(state, control)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any) -> None:
        # Before a checkpoint is written, make sure it would not hold NaN weights.
        if control.should_save and model is not None and not _finite(model):
            self._stop(state, control)

    def _stop(self, state: Any, control: Any) -> None:
        if self.bad_step is None:
            self.bad_step = state.global_step
            log.error("non-finite loss or weights at step %d: stopping", state.global_step)
        control.should_training_stop = True
        control.should_save = False
        control.should_evaluate = False


def _finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


class CheckpointOnSignal(TrainerCallback):
    """On the first SIGINT or SIGTERM, finish the current step, save a checkpoint and stop.

    A second signal gets the default behaviour (immediate KeyboardInterrupt / termination).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received = signum
        log.warning(
            "%s received: saving a checkpoint after this step, then stopping",
            signal.Signals(signum).name,
        )
        self.uninstall()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True
