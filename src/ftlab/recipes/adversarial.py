"""FGM adversarial training (Miyato et al., 2017): train on the embeddings pushed, per
example, `epsilon` along the direction that raises the loss most, as well as on the clean ones.

Each training step runs the Trainer's own step twice: the clean pass records the gradient
of the loss with respect to the word-embedding outputs, the adversarial pass adds
`epsilon * g / ||g||` to those outputs; both backward passes add into the same gradients.
The perturbation acts on the embedding *outputs* through a forward hook, so it works when
the embedding weights are frozen (peft, `model.freeze`) too.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from ftlab.errors import FtlabError

METHODS = ("fgm",)


def check_adversarial(method: Any, epsilon: Any) -> None:
    if method is not None and method not in METHODS:
        raise FtlabError(
            f"trainer.adversarial must be one of {', '.join(METHODS)} (or null), got {method!r}"
        )
    if not (isinstance(epsilon, (int, float)) and epsilon > 0):
        raise FtlabError(f"trainer.adversarial_epsilon must be a number above 0, got {epsilon!r}")


class FGM:
    """Hooks the model's input embeddings; `clean()` then `attack()` around the two passes."""

    def __init__(self, model: Any, epsilon: float) -> None:
        self.epsilon = epsilon
        self._mode: str | None = None
        self._output: Any = None
        model.get_input_embeddings().register_forward_hook(self._hook)

    def _hook(self, _module: Any, _inputs: Any, output: Any) -> Any:
        if self._mode == "clean":
            if output.requires_grad:
                output.retain_grad()
            else:  # frozen embedding weights: the output is a leaf; ask for its gradient
                output.requires_grad_(True)
            self._output = output
            return output
        if self._mode == "attack":
            grad = self._output.grad
            if grad is None:  # the clean pass did not reach the embeddings (no loss)
                return output
            norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (grad.dim() - 1))
            return output + self.epsilon * grad / norm
        return output

    @contextmanager
    def clean(self) -> Any:
        self._mode, self._output = "clean", None
        try:
            yield
        finally:
            self._mode = None

    @contextmanager
    def attack(self) -> Any:
        self._mode = "attack"
        try:
            yield
        finally:
            self._mode, self._output = None, None
