"""The final validation metrics of a run, without scoring the validation set twice."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _step_of_final_model(trainer: Any) -> int:
    """The step of the weights training ended with: the best checkpoint's (reloaded with
    load_best_model_at_end), else the last step."""
    best = trainer.state.best_model_checkpoint
    if trainer.args.load_best_model_at_end and best:
        return int(Path(best).name.rsplit("-", 1)[-1])
    return trainer.state.global_step


def final_validation(trainer: Any, task: Any) -> dict[str, float]:
    """The final model's validation metrics: the Trainer's evaluation of those weights
    during training when it logged one (saves a pass over the validation set), else a new
    evaluation. A task whose scoring keeps what its last evaluation chose (tuned
    thresholds) is evaluated again unless that last evaluation was of the final model."""
    evaluations = [row for row in trainer.state.log_history if "eval_runtime" in row]
    step = _step_of_final_model(trainer)
    known = next((row for row in reversed(evaluations) if row.get("step") == step), None)
    if known is None or (known is not evaluations[-1] and task.decision_record()):
        return trainer.evaluate(metric_key_prefix="eval")
    log.info("validation metrics of step %d: from its evaluation in training", step)
    return {key: value for key, value in known.items() if key != "step"}
