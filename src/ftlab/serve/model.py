"""The served model: one run or an ensemble, on PyTorch or the run's ONNX / int8 export,
answering texts with ftlab.predict's records (the same task methods, the same averaging)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset

from ftlab.errors import FtlabError, boundary
from ftlab.inference.predictor import Logits, ensemble, member_outputs
from ftlab.inference.runs import Run, check_same_labels, load_run, run_paths
from ftlab.models.family import model_inputs
from ftlab.tasks.base import AnswerOptions
from ftlab.tasks.outputs import first_output

log = logging.getLogger("ftlab.serve")

BACKENDS = ("torch", "onnx", "onnx_int8")
# where ftlab.export writes by default (RUN_DIR/onnx), and its file for each backend
ONNX_DIR = "onnx"
ONNX_FILES = {"onnx": "model.onnx", "onnx_int8": "model_int8.onnx"}


@dataclass
class Answers:
    """ftlab.predict's record for each text, and each text's window count (None: the kind
    cuts no text into windows)."""

    records: list[dict]
    windows: list[int] | None


def _torch_logits(run: Run, threads: int | None) -> Logits:
    """One forward pass over a batch of features, padded by the task's collator."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    collator = run.task.prediction_collator(run.tokenizer)

    def logits(features: Dataset) -> np.ndarray:
        batch = collator(list(features))
        names = model_inputs(run.model, batch.keys())
        with torch.inference_mode():
            output = run.model(**{name: batch[name] for name in names})
        return first_output(output.logits).float().numpy()

    return logits


def _onnx_logits(run: Run, backend: str, threads: int | None) -> Logits:
    """The run's exported graph (`python -m ftlab.export`) on onnxruntime's CPU provider."""
    path = run.path / ONNX_DIR / ONNX_FILES[backend]
    if not path.is_file():
        quantize = " quantize=int8" if backend == "onnx_int8" else ""
        raise FtlabError(
            f"serve.backend={backend}: run={run.path} has no {ONNX_DIR}/{path.name}; export it "
            f"first: python -m ftlab.export run={run.path}{quantize}"
        )
    try:
        import onnxruntime
    except ImportError as exc:
        raise FtlabError(
            f"serve.backend={backend} needs onnxruntime: pip install 'ftlab[export]'"
        ) from exc
    options = onnxruntime.SessionOptions()
    # no spin-waiting between calls: a server's calls come with gaps, and spinning threads
    # took half the CPU of an int8 MiniLM replica (26 against 12 ms a request, measured),
    # CPU that the HTTP proxy and the other replicas need
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    with boundary(f"loading {path}", "export the run again: python -m ftlab.export"):
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    names = [graph_input.name for graph_input in session.get_inputs()]
    collator = run.task.prediction_collator(run.tokenizer)

    def logits(features: Dataset) -> np.ndarray:
        batch = collator(list(features))
        return session.run(["logits"], {name: np.asarray(batch[name]) for name in names})[0]

    return logits


def _texts_of(item: Any) -> list[str]:
    """The texts of one served input: a text, a sentence pair, or a conversation."""
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        return [str(text) for text in item.values()]
    return [str(turn.get("content", "")) for turn in item if isinstance(turn, dict)]


class ServedModel:
    """One run, or an ensemble of runs of one task, loaded once and asked many times."""

    def __init__(
        self,
        run: Any,
        backend: str = "torch",
        threads: int | None = None,
        corpus: str | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise FtlabError(f"serve.backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
        paths = run_paths(run)
        with boundary(
            "loading the run's model", "check that the run completed and model/ is whole"
        ):
            self.runs = [load_run(path) for path in paths]
        check_same_labels(self.runs)
        self.backend = backend
        self.task = self.runs[0].task
        self.tokenizer = self.runs[0].tokenizer
        if backend != "torch" and self.task.endpoint is not None:
            raise FtlabError(
                f"serve.backend={backend}: a {type(self.task).__name__} run's model computes "
                "its answers itself (a reply, a search), on torch; drop serve.backend"
            )
        for loaded in self.runs:
            if corpus is not None:  # what /v1/search ranks
                loaded.task.use_corpus(corpus)
            loaded.task.check_servable()
        if backend == "torch":
            self._logits = [_torch_logits(r, threads) for r in self.runs]
        else:
            self._logits = [_onnx_logits(r, backend, threads) for r in self.runs]
        names = [r.name for r in self.runs]
        self.name = names[0] if len(names) == 1 else "ensemble(" + ",".join(names) + ")"
        if self.task.endpoint == "search":  # the corpus embedded (and cached) before /ready
            self.answer(["warm-up"])

    def info(self) -> dict[str, Any]:
        """What /info shows: the task, its kind, labels, max length, backend, its own
        endpoint (chat, search), runs."""
        return {
            "model": self.name,
            "task": self.task.name,
            "kind": type(self.task).__name__,
            "labels": list(self.task.label_list),
            "max_length": int(self.task.max_seq_length),
            "backend": self.backend,
            "endpoint": self.task.endpoint,
            "runs": [str(r.path) for r in self.runs],
        }

    def token_count(self, inputs: Sequence[Any]) -> int:
        """The tokens of `inputs` (texts, pairs, conversations' turns) by the run's tokenizer,
        not cut at the max length: what a long document chunked costs; a truncating kind
        spends less on a text longer than its max length."""
        texts = [text for item in inputs for text in _texts_of(item)]
        if not texts:
            return 0
        return sum(len(ids) for ids in self.tokenizer(texts, verbose=False)["input_ids"])

    def answer(self, texts: Sequence[Any]) -> Answers:
        """ftlab.predict's record for each text (a generating run: each conversation too;
        bad input: an FtlabError naming it)."""
        inputs = self.task.prediction_inputs(self.task.served_inputs(list(texts)), self.tokenizer)
        members = [
            member_outputs(run, inputs, len(inputs), False, logits)
            for run, logits in zip(self.runs, self._logits, strict=True)
        ]
        outputs = ensemble([member.outputs for member in members])
        records = self.task.prediction_records(inputs, outputs, self.tokenizer)
        return Answers(records, members[0].windows)

    def shaped(self, record: dict, options: AnswerOptions) -> Any:
        """A record in the service's answer shape (the kind's own)."""
        return self.task.served(record, options)
