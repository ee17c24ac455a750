"""Masked-language-model training: continued pretraining of an encoder on unlabelled text
(domain- or task-adaptive pretraining), like Hugging Face's run_mlm.py: texts grouped into
blocks of `max_seq_length` tokens (or one text a line), the library's MLM collator, loss,
perplexity and masked-token accuracy. The saved model/ is the starting point of any other
task (`model.name_or_path=<run>/model`). Defaults: mlm.yaml beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict
from omegaconf import OmegaConf

from ftlab.config.targets import build_task, task_config
from ftlab.data.cache import cached_map
from ftlab.data.columns import column_values
from ftlab.data.sources import LINE_SUFFIXES, read_lines
from ftlab.errors import FtlabError
from ftlab.metrics import load_metric
from ftlab.tasks.alignment import IGNORE
from ftlab.tasks.base import AnswerOptions, Task, Tokenized
from ftlab.tasks.outputs import first_output, perplexity, rounded, softmax
from ftlab.tasks.text import check_texts

TOP_K = 5  # fill-mask candidates per [MASK] in ftlab.predict's records
BLOCKS_FILE = "mlm_blocks.json"  # the sequences each split became


@dataclass
class MaskedLMTask(Task):
    """Unlabelled text in `text_column` (or another task's texts: `text_from`)."""

    text_column: str = "text"
    # a task name (or, from adapt=tapt, a task's whole config): its texts, never its labels
    text_from: str | dict[str, Any] | None = None
    line_by_line: bool = False  # one text a sequence (truncated) instead of grouped blocks
    mlm_probability: float = 0.15
    whole_word_mask: bool = False  # mask all pieces of a word (words from the offsets)
    main_metric: str = "loss"

    model_class: ClassVar[str] = "AutoModelForMaskedLM"
    peft_task_type: ClassVar[str | None] = None
    metrics: ClassVar[frozenset[str]] = frozenset({"accuracy"})  # of the masked tokens
    minimized: ClassVar[frozenset[str]] = frozenset({"loss", "perplexity"})
    csv_predictions: ClassVar[bool] = False  # candidates per mask are nested records

    def check(self) -> None:
        super().check()
        if not 0 < self.mlm_probability < 1:
            raise FtlabError(
                f"task.mlm_probability must be between 0 and 1, got {self.mlm_probability!r}"
            )
        if self.text_from == self.name:
            raise FtlabError(f"task.text_from={self.text_from} names this task itself")
        if self.whole_word_mask and self.line_by_line:
            raise FtlabError(
                "task.whole_word_mask works on grouped texts: set task.line_by_line=false "
                "(or drop whole-word masking)"
            )

    # -- data -------------------------------------------------------------------------
    def read_file(self, path: Path) -> Dataset:
        """`.txt`: one document a line (empty lines skipped); else csv / json / parquet."""
        if path.suffix.lower() not in LINE_SUFFIXES:
            return super().read_file(path)
        return Dataset.from_dict({self.text_column: read_lines(path, self.encoding)})

    def check_split(self, split_name: str, split: Dataset) -> None:
        check_texts(split, [self.text_column], f"{split_name} split")

    def prepare(self) -> DatasetDict:
        """The texts' splits (another task's, with `text_from`), subsampled."""
        if self.text_from:
            source_config = (
                OmegaConf.create(self.text_from)
                if isinstance(self.text_from, dict)
                else task_config(self.text_from)
            )
            source = build_task(source_config)
            splits = DatasetDict(
                {
                    name: Dataset.from_dict({self.text_column: source.texts(split)})
                    for name, split in source.prepare().items()
                }
            )
        else:
            splits = self.load_splits({"text_column": [self.text_column]})
        return self.cut_to_size(splits)

    def texts(self, split: Dataset) -> list[str]:
        return list(split[self.text_column])

    def model_kwargs(self) -> dict[str, Any]:
        return {}  # the checkpoint's own MLM head (initialised where it has none)

    # -- tokenization -----------------------------------------------------------------
    def encode(self, tokenizer: Any, rows: Any) -> Any:
        return tokenizer(
            list(rows[self.text_column]), truncation=True, max_length=self.max_seq_length
        )

    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """Token ids, grouped into blocks of max_seq_length (or one text a sequence), cached;
        the collator masks them anew for every batch. Records the blocks per split."""
        if tokenizer.mask_token is None:
            raise FtlabError("the model's tokenizer has no mask token; task=mlm needs one")
        # locals, not self: the cache key hashes what the function captures
        column, max_length, line_by_line = (
            self.text_column,
            self.max_seq_length,
            self.line_by_line,
        )
        extras = {"return_special_tokens_mask": True}
        if self.whole_word_mask:
            extras["return_offsets_mapping"] = True

        def encode(batch: dict[str, list]) -> dict[str, list]:
            if line_by_line:
                return dict(
                    tokenizer(batch[column], truncation=True, max_length=max_length, **extras)
                )
            encoded = tokenizer(batch[column], **extras)
            return _grouped(dict(encoded), max_length)

        settings = ("masked-lm", max_length, line_by_line, self.whole_word_mask)
        tokenized = cached_map(splits, encode, *settings)
        blocks = {name: len(split) for name, split in tokenized.items()}
        record = {"max_seq_length": max_length, "line_by_line": line_by_line, **blocks}
        return Tokenized(tokenized, records={BLOCKS_FILE: record})

    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(
            tokenizer,
            mlm_probability=self.mlm_probability,
            whole_word_mask=self.whole_word_mask,
            pad_to_multiple_of=pad_to_multiple_of,
            # the same masks on every evaluation, so checkpoints compare on equal terms
            seed=self.shuffle_seed,
        )

    def prediction_collator(self, tokenizer: Any) -> Any:
        """Padding only: the masks of a prediction are the user's."""
        from ftlab.tasks.text import padding_collator

        return padding_collator(tokenizer, None)

    # -- training and scoring ---------------------------------------------------------
    def reduce_logits(self, logits: Any, labels: Any) -> Any:
        """The predicted token id at each position: a vocabulary's logits per token would
        not fit in memory over a whole evaluation set."""
        return first_output(logits).argmax(dim=-1)

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """accuracy of the masked tokens (the Trainer adds loss; perplexity follows)."""
        predicted = first_output(eval_prediction.predictions)
        labels = eval_prediction.label_ids
        masked = labels != IGNORE
        result = load_metric("accuracy").compute(
            predictions=predicted[masked].ravel(), references=labels[masked].ravel()
        )
        return {"accuracy": result["accuracy"]}

    def derived_metrics(self, metrics: dict[str, float], prefix: str) -> dict[str, float]:
        """`<prefix>_perplexity` = exp(`<prefix>_loss`), run_mlm.py's way."""
        return perplexity(metrics, prefix)

    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, probabilities) per position."""
        probabilities = softmax(logits)
        return probabilities.argmax(axis=-1), probabilities

    def write_predictions(
        self, raw: Dataset, logits: np.ndarray, tokenizer: Any, run_dir: Path
    ) -> None:
        """Nothing per example: the test split's loss, perplexity and masked-token
        accuracy are in metrics.json."""
        return None

    # -- prediction time: fill the masks ----------------------------------------------
    @property
    def input_text_column(self) -> str:
        return self.text_column

    def prediction_inputs(self, rows: Dataset, tokenizer: Any) -> Dataset:
        """Texts with the model's mask token ([MASK]) where a word is to be filled in."""
        check_texts(rows, [self.text_column], "the input")
        for row, text in enumerate(column_values(rows, self.text_column)):
            if tokenizer.mask_token not in text:
                raise FtlabError(
                    f"the input, row {row}: no {tokenizer.mask_token} in the text; "
                    f"write {tokenizer.mask_token} where the model is to fill in a word"
                )
        return rows

    def example_outputs(
        self, logits: np.ndarray, encoded: Any, inputs: Dataset, tokenizer: Any
    ) -> list[np.ndarray]:
        """Per text, the probabilities over the vocabulary at each mask (masks x vocab)."""
        result = []
        for i, ids in enumerate(encoded["input_ids"]):
            positions = [p for p, token in enumerate(ids) if token == tokenizer.mask_token_id]
            result.append(softmax(logits[i, positions]))  # only there: a vocabulary is large
        return result

    def prediction_records(
        self, inputs: Dataset, outputs: list[np.ndarray], tokenizer: Any
    ) -> list[dict]:
        """The text and, per mask, the TOP_K tokens with their probabilities."""
        records = []
        for row, masks in zip(inputs, outputs, strict=True):
            filled = []
            for probabilities in masks:
                top = np.argsort(probabilities)[::-1][:TOP_K]
                tokens = tokenizer.convert_ids_to_tokens([int(t) for t in top])
                scores = rounded(probabilities[top])
                filled.append(
                    [{"token": t, "score": s} for t, s in zip(tokens, scores, strict=True)]
                )
            records.append({self.text_column: row[self.text_column], "masks": filled})
        return records

    def served(self, record: dict, options: AnswerOptions) -> Any:
        """Per mask, the best `top_k` (at most TOP_K) tokens with their probabilities."""
        return {"masks": [candidates[: options.top_k] for candidates in record["masks"]]}

    def prediction_gold(self, inputs: Dataset) -> list | None:
        return None  # fill-mask inputs carry no gold words

    def prediction_scores(self, outputs: list[np.ndarray], gold: list) -> dict[str, float]:
        return {}


def _grouped(encoded: dict[str, list], block: int) -> dict[str, list]:
    """run_mlm.py's group_texts: the batch's token lists concatenated and cut into blocks of
    `block` tokens (the remainder dropped), every column alike."""
    joined = {k: [x for row in v for x in row] for k, v in encoded.items()}
    total = (len(joined["input_ids"]) // block) * block
    return {k: [v[i : i + block] for i in range(0, total, block)] for k, v in joined.items()}
