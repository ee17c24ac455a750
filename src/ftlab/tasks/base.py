"""The task interface: what a task kind is, and the settings every kind shares.

A task is a dataclass built from `conf/task/<name>.yaml`: its `_target_` names the kind's
class, its other keys are the class's fields (each one a `task.<key>` on the command
line), and the kind's defaults sit beside its module (`tasks/<kind>.yaml`). The kind's
module is the one place that knows what the kind means. Training, prediction, export,
sweeps and the report only call the methods below; none of them asks which kind it holds.

A method gets what it needs as arguments (the tokenizer, the splits, the run directory);
the only state a task keeps is its settings, once `prepare()` has read the data its label
list, and what tokenizing and scoring the validation set found (chunk maps, thresholds).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict

from ftlab.config.types import check_fields
from ftlab.data.columns import rows_in_memory
from ftlab.data.sources import load_raw_splits, read_table_file
from ftlab.data.splits import add_missing_splits, subsample
from ftlab.errors import FtlabError


@dataclass
class Tokenized:
    """A task's tokenized splits, and what tokenizing found that the run records."""

    splits: DatasetDict
    # file name -> JSON content, written into the run directory (e.g. truncation.json)
    records: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerOptions:
    """What a caller of ftlab.serve may ask of each answer (`parameters` of POST /v1/predict)."""

    top_k: int = 1  # classification: the best k labels
    threshold: float | None = None  # multi-label: this threshold instead of the run's own
    aggregation: str = "simple"  # NER: entities ("simple") or each word's tag ("none")


@dataclass(frozen=True)
class OutputContext:
    """What a kind whose model computes its own outputs (`Task.model_outputs`) may use."""

    batch_size: int
    progress: bool  # a progress bar on stderr
    cache_dir: Path  # in the run directory: what the kind computes once (a corpus)
    tokenizer: Any


@dataclass
class Task(ABC):
    """Settings every kind has; each field is a `task.<name>` config key."""

    name: str = "task"
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    builtin_dataset: str | None = None
    dataset_name: str | None = None
    dataset_config_name: str | None = None
    max_seq_length: int = 128
    validation_split_percentage: float = 10
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    shuffle_seed: int = 42
    main_metric: str = "accuracy"
    encoding: str = "utf-8"  # of csv / json / CoNLL / text files (latin-1, cp1252, gbk ...)
    # the head on the encoder: `model.head` (a kind's yaml passes it on), one of `heads`
    head: str = "softmax"
    # the output names in the model's id order, set by prepare() (or from a saved model)
    label_list: list[str] = field(init=False, default_factory=list)

    # -- what the kind is ----------------------------------------------------------------
    model_class: ClassVar[str]  # the transformers Auto class of the model with its head
    peft_task_type: ClassVar[str | None]  # peft's TaskType for adapters; None: no peft
    metrics: ClassVar[frozenset[str]]  # what compute_metrics returns (Trainer adds "loss")
    minimized: ClassVar[frozenset[str]] = frozenset({"loss"})  # lower is better for these
    csv_predictions: ClassVar[bool] = True  # ftlab.predict may write its records as csv
    generates: ClassVar[bool] = False  # outputs are generated texts: no ensemble
    # ftlab.serve's own endpoint for the kind beside /v1/predict: "chat", "search" or None
    endpoint: ClassVar[str | None] = None
    heads: ClassVar[tuple[str, ...]] = ("softmax",)  # the `model.head` choices of the kind

    def __post_init__(self) -> None:
        check_fields(self, "task")  # each value has its field's type, then the kind's checks
        self.check()

    def check(self) -> None:
        """The kind's own config checks, in the user's terms (a kind extends them)."""
        for key in ("max_seq_length", "max_train_samples", "max_eval_samples"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise FtlabError(f"task.{key} must be above 0, got {value!r}")
        if not 0 < self.validation_split_percentage < 50:
            raise FtlabError(
                "task.validation_split_percentage must be between 0 and 50 (percent of train "
                f"for each missing split), got {self.validation_split_percentage!r}"
            )
        try:
            "".encode(self.encoding)
        except LookupError:
            raise FtlabError(
                f"task.encoding={self.encoding} is not an encoding Python knows; "
                "use e.g. utf-8, latin-1, cp1252, gbk"
            ) from None
        if self.head not in self.heads:
            raise FtlabError(
                f"model.head={self.head}: {type(self).__name__} has the heads "
                f"{', '.join(self.heads)}; use one of them"
            )
        if not self.known_metric(self.main_metric):
            raise FtlabError(
                f"task.main_metric={self.main_metric} is not a metric of {type(self).__name__}; "
                f"use one of {', '.join(sorted(self.metrics | {'loss'}))}"
            )

    @classmethod
    def known_metric(cls, metric: str) -> bool:
        return metric in cls.metrics or metric == "loss"

    @classmethod
    def greater_is_better(cls, metric: str) -> bool:
        """Whether `metric` is maximised (best checkpoint, sweeps, the report)."""
        return metric.removeprefix("eval_").removeprefix("test_") not in cls.minimized

    # -- data ----------------------------------------------------------------------------
    def read_file(self, path: Path) -> Dataset:
        """How this task reads one local data file (a kind may add formats)."""
        return read_table_file(path, self.encoding)

    def load_splits(self, required_columns: dict[str, list[str]]) -> DatasetDict:
        """train / validation / test, missing ones cut from train.

        `required_columns` maps a task option to the columns it names; every split must
        have them (checked before cutting splits, so the error names the real files).
        """
        splits = load_raw_splits(self, self.read_file)
        if "train" not in splits:
            raise FtlabError("the data has no train split; set task.train_file=PATH")
        for split_name, split in splits.items():
            for option, columns in required_columns.items():
                require_columns(split, columns, f"{split_name} data", f"task.{option}")
            self.check_split(split_name, split)
        splits = DatasetDict({name: self.annotate_split(name, s) for name, s in splits.items()})
        return add_missing_splits(splits, self.validation_split_percentage, self.shuffle_seed)

    def cut_to_size(self, splits: DatasetDict, **subsets: Any) -> DatasetDict:
        """`max_train_samples` / `max_eval_samples` (and a kind's own `subsets`), the same
        examples on every run (shuffled with `shuffle_seed`)."""
        return subsample(
            splits,
            self.shuffle_seed,
            max_train_samples=self.max_train_samples,
            max_eval_samples=self.max_eval_samples,
            **subsets,
        )

    def check_split(self, split_name: str, split: Dataset) -> None:
        """What a raw split must hold beyond its columns (a kind checks its values here,
        before any split is cut, so an error names the rows of the real files)."""
        return None  # a kind without value checks

    def annotate_split(self, split_name: str, split: Dataset) -> Dataset:
        """A checked raw split with what a kind must know of its rows before splits are cut
        from train and shuffled (each row's place in its file ...); unchanged by default."""
        return split

    @abstractmethod
    def prepare(self) -> DatasetDict:
        """Load, validate and subsample the raw splits; set `label_list`."""

    @abstractmethod
    def texts(self, split: Dataset) -> list[str]:
        """The plain text of each example (what a masked-LM stage can learn from)."""

    # -- model ---------------------------------------------------------------------------
    def model_loader(self) -> Any:
        """What `from_pretrained` is called on: the transformers Auto class of `model_class`
        (a kind with another head returns its own loader)."""
        import transformers

        return getattr(transformers, self.model_class)

    @abstractmethod
    def model_kwargs(self) -> dict[str, Any]:
        """`from_pretrained` keyword arguments for the head (`num_labels`, `id2label` ...)."""

    # -- tokenization --------------------------------------------------------------------
    @abstractmethod
    def encode(self, tokenizer: Any, rows: Dataset) -> Any:
        """The kind's tokenization of raw rows, unpadded and without labels: training,
        its predictions file and ftlab.predict all cut and split a text this one way."""

    @abstractmethod
    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """Model inputs and `labels` for every split (cached), and what to record of it."""

    @abstractmethod
    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        """Pads each batch (never to max_seq_length)."""

    def prediction_collator(self, tokenizer: Any) -> Any:
        """The collator of ftlab.predict and ftlab.export: the training one, unless that
        changes the inputs (an MLM collator masks them)."""
        return self.data_collator(tokenizer)

    # -- the Trainer -----------------------------------------------------------------------
    def arguments_class(self) -> tuple[type, dict[str, Any]]:
        """The `TrainingArguments` class of the kind's Trainer, and the fields the kind sets
        on it (a config key of the same name wins)."""
        from transformers import TrainingArguments

        return TrainingArguments, {}

    def trainer_setup(
        self, model: Any, raw: DatasetDict, tokenizer: Any
    ) -> tuple[type, dict[str, Any]] | None:
        """A kind trained by another library's `Trainer` subclass returns that class and the
        keyword arguments it adds (a loss, an evaluator); None: ftlab's own Trainer, which
        scores with `compute_metrics` and applies the recipes."""
        return None

    # -- training and scoring ------------------------------------------------------------
    def loss_function(self, train: Dataset) -> Callable[..., Any] | None:
        """A loss for the Trainer's `compute_loss_func`; None: the model's own."""
        return None

    def soft_targets(self) -> str | None:
        """How a teacher's logits become soft targets in knowledge distillation (recipes/
        distill.py): "softmax" (one label per example or token), "sigmoid" (independent
        labels); None: the kind cannot be distilled."""
        return None

    @abstractmethod
    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """The Trainer's `compute_metrics` (it prefixes the names: eval_..., test_...)."""

    def reduce_logits(self, logits: Any, labels: Any) -> Any:
        """What of each evaluation batch's logits `compute_metrics` needs (the Trainer's
        `preprocess_logits_for_metrics`): all of them, unless a kind's outputs are too large
        to keep (a vocabulary per token)."""
        return logits

    def derived_metrics(self, metrics: dict[str, float], prefix: str) -> dict[str, float]:
        """Metrics that follow from the Trainer's final ones (`<prefix>_perplexity` from
        `<prefix>_loss` ...), added to metrics.json; none by default."""
        return {}

    def score_split(self, split: str) -> None:
        """Which split `compute_metrics` scores from now on: "validation" (the default: the
        Trainer's evaluations in training) until training calls it with "test" once the
        final validation is done; what a kind chose on validation (tuned thresholds) is
        fixed from then on."""
        return None

    def decision_record(self) -> dict[str, Any]:
        """What the kind chose on the validation set (e.g. tuned thresholds), saved with the
        model as model/decision.json; {}: nothing."""
        return {}

    def load_decision(self, record: dict[str, Any]) -> None:
        """A saved run's decision record (prediction time); nothing by default."""
        return None

    @abstractmethod
    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predictions, outputs) of logits: labels and probabilities, or scores."""

    @abstractmethod
    def write_predictions(
        self, raw: Dataset, logits: np.ndarray, tokenizer: Any, run_dir: Path
    ) -> None:
        """The test split's predictions with gold labels (and any per-class report)."""

    def shown_examples(self) -> list[dict[str, str]]:
        """Test examples for the trackers to show as a table (a generating kind's replies
        beside their references), once the test split is scored; none by default."""
        return []

    # -- prediction time (ftlab.predict) -------------------------------------------------
    @property
    @abstractmethod
    def input_text_column(self) -> str:
        """The column a plain text line of ftlab.predict's input goes into."""

    @abstractmethod
    def prediction_inputs(self, rows: Dataset, tokenizer: Any) -> Dataset:
        """Input rows checked and put into the columns `encode` reads."""

    def use_generation(self, settings: dict[str, Any]) -> None:
        """ftlab.predict's `generation.*` keys: how a kind that generates its answers does
        it this time (instead of the run's own task keys)."""
        raise FtlabError(
            f"generation.{next(iter(settings))}: {type(self).__name__} runs generate no text; "
            "drop the generation keys"
        )

    def use_corpus(self, path: str) -> None:
        """ftlab.predict's `corpus=`: what a kind that ranks texts ranks."""
        raise FtlabError(f"corpus={path}: {type(self).__name__} runs rank no corpus; drop corpus=")

    def reranked(
        self, model: Any, first: Task, inputs: Dataset, scores: list[np.ndarray], batching: Any
    ) -> list[np.ndarray]:
        """ftlab.predict's `rerank=`: the `first` run's outputs for `inputs`, reordered by
        this run's model (a kind that reranks)."""
        raise FtlabError(
            f"rerank= takes a run of task kind rerank; this one is {type(self).__name__}"
        )

    def model_outputs(
        self, model: Any, inputs: Dataset, context: OutputContext
    ) -> list[np.ndarray] | None:
        """A kind whose model computes its outputs itself (a sentence encoder's similarities
        to a corpus, `context.cache_dir` to keep what it may reuse; a decoder's replies)
        returns one array per input row; None: the Trainer predicts over `encode(inputs)`
        and `example_outputs` reads it."""
        return None

    @abstractmethod
    def example_outputs(
        self, logits: np.ndarray, encoded: Any, inputs: Dataset, tokenizer: Any
    ) -> list[np.ndarray]:
        """One output array per input row, from the model's logits over `encode(inputs)`
        (an ensemble averages them member by member)."""

    @abstractmethod
    def prediction_records(
        self, inputs: Dataset, outputs: list[np.ndarray], tokenizer: Any
    ) -> list[dict]:
        """One JSON record per example."""

    @abstractmethod
    def prediction_gold(self, inputs: Dataset) -> list | None:
        """The gold labels the input rows carry, or None."""

    @abstractmethod
    def prediction_scores(self, outputs: list[np.ndarray], gold: list) -> dict[str, float]:
        """The kind's metrics of the outputs against the gold labels."""

    def csv_row(self, record: dict) -> dict:
        """A prediction record as one flat csv row (only where `csv_predictions`)."""
        return record

    def check_servable(self) -> None:
        """ftlab.serve answers this kind (a kind it cannot answer yet says so)."""
        return None

    def served_inputs(self, inputs: list[Any]) -> Dataset:
        """ftlab.serve's inputs (texts; a generating kind: conversations too; a sentence-pair
        run: pairs) as the rows `prediction_inputs` reads."""
        if not all(isinstance(i, str) for i in inputs):
            raise FtlabError("this run reads one text per input: send each input as a string")
        return rows_in_memory({self.input_text_column: inputs})

    def served(self, record: dict, options: AnswerOptions) -> Any:
        """A prediction record as ftlab.serve answers it (without the input text); by
        default the record itself."""
        return record

    # -- export (ftlab.export) -----------------------------------------------------------
    def exported_model(self, model: Any) -> Any:
        """What ftlab.export traces: the model itself (`forward(input_ids, ...)` returning
        `logits`); a kind whose model is of another library wraps it so."""
        return model

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        """How far an exported model's logits are from PyTorch's, in the task's outputs
        (token logits come flattened to one row per real token)."""
        predicted, outputs = self.decode(reference)
        other_predicted, other_outputs = self.decode(other)
        return {
            "max_abs_logit_diff": float(np.abs(reference - other).max()),
            "max_abs_output_diff": float(np.abs(outputs - other_outputs).max()),
            "label_agreement": float((predicted == other_predicted).mean()),
        }


def require_columns(rows: Dataset, columns: list[str], where: str, option: str) -> None:
    """Every one of `columns` is in `rows`, or a one-line error naming `option`."""
    for column in columns:
        if column not in rows.column_names:
            raise FtlabError(
                f"{where} has no column '{column}' ({option}); "
                f"its columns are: {', '.join(rows.column_names)}"
            )
