"""TRL's `SFTTrainer`, which scores a test split as ftlab's runs report it: the loss with the
token accuracy TRL measures on the way, and the generation metrics of the kind (ROUGE /
BLEU of replies to the test conversations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trl import SFTTrainer


class ScoringSFTTrainer(SFTTrainer):
    """`predict` (ftlab's test pass) adds `<prefix>_mean_token_accuracy` and
    `<prefix>_entropy`, which TRL keeps for its next log line, and `generation_scores(model)`
    under the same prefix."""

    def __init__(
        self, *args: Any, generation_scores: Callable[[Any], dict[str, float]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._generation_scores = generation_scores

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if any(name.startswith("eval_") for name in logs):
            # TRL's running count of training tokens: no score of the evaluation
            self._metrics["eval"].pop("num_tokens", None)
        super().log(logs, start_time)

    def predict(
        self,
        test_dataset: Any,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "test",
    ) -> Any:
        measured = self._metrics["eval"]
        measured.clear()  # what an evaluation left unlogged is not the test split's
        output = super().predict(test_dataset, ignore_keys, metric_key_prefix)
        for name in ("mean_token_accuracy", "entropy"):
            if measured.get(name):
                output.metrics[f"{metric_key_prefix}_{name}"] = sum(measured[name]) / len(
                    measured[name]
                )
        measured.clear()
        scores = self._generation_scores(self.model)
        output.metrics.update({f"{metric_key_prefix}_{k}": v for k, v in scores.items()})
        return output
