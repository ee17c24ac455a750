"""What the kinds with one text (or a sentence pair) per example share: which columns hold
the text, how it is tokenized, padded, shown and read at prediction time. Sequence
classification and regression build on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from datasets import Dataset

from ftlab.data.columns import column_values, rows_in_memory
from ftlab.errors import FtlabError
from ftlab.tasks.base import Task, require_columns

PAIR_KEYS = ("text", "text_pair")  # a served sentence pair's two fields
PAIR_SEPARATOR = " ||| "  # between the two texts of a sentence pair in a predictions file


def as_columns(text_column: str | list[str]) -> list[str]:
    """`task.text_column`: one column, or a list of two for sentence pairs."""
    return [text_column] if isinstance(text_column, str) else list(text_column)


def encode_texts(tokenizer: Any, rows: Any, columns: list[str], max_length: int) -> Any:
    """Token ids of one text column (or two, a sentence pair), truncated to `max_length`,
    unpadded (the collator pads each batch)."""
    return tokenizer(*[list(rows[c]) for c in columns], truncation=True, max_length=max_length)


def padding_collator(tokenizer: Any, pad_to_multiple_of: int | None) -> Any:
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


def checked_inputs(rows: Dataset, columns: list[str]) -> Dataset:
    """ftlab.predict's rows, which must hold the run's text column(s)."""
    for column in columns:
        require_columns(rows, [column], "the input", "the run's task.text_column")
    return rows


def check_texts(rows: Dataset, columns: list[str], where: str) -> None:
    """Every text is a string (an empty cell or a number would reach the tokenizer)."""
    for column in columns:
        for row, value in enumerate(column_values(rows, column)):
            if not isinstance(value, str):
                raise FtlabError(
                    f"{where}, row {row}: '{column}' holds {value!r}, not a text; "
                    "every row needs a string there (drop or fill the empty rows)"
                )


def shown_text(row: dict, columns: list[str]) -> str:
    """The example's text as a predictions file shows it."""
    return PAIR_SEPARATOR.join(str(row[c]) for c in columns)


@dataclass
class TextTask(Task):
    """A kind that reads one text (or a sentence pair) and one target column per example,
    through `AutoModelForSequenceClassification`'s head."""

    text_column: str | list[str] = "text"
    label_column: str = "label"

    model_class: ClassVar[str] = "AutoModelForSequenceClassification"
    peft_task_type: ClassVar[str | None] = "SEQ_CLS"

    @property
    def text_columns(self) -> list[str]:
        return as_columns(self.text_column)

    def check(self) -> None:
        super().check()
        if not 1 <= len(self.text_columns) <= 2:
            raise FtlabError(
                f"task.text_column must be one column or a pair, got {self.text_column!r}"
            )

    def check_split(self, split_name: str, split: Dataset) -> None:
        self.check_texts(f"{split_name} split", split)

    def check_texts(self, where: str, split: Dataset) -> None:
        check_texts(split, self.text_columns, where)

    def texts(self, split: Dataset) -> list[str]:
        """The example's text; a pair's two texts joined by a space."""
        columns = (column_values(split, c) for c in self.text_columns)
        return [" ".join(texts) for texts in zip(*columns, strict=True)]

    def load_text_splits(self) -> Any:
        """The raw splits, with the text and label columns checked in each."""
        return self.load_splits(
            {"text_column": self.text_columns, "label_column": [self.label_column]}
        )

    def encode(self, tokenizer: Any, rows: Any) -> Any:
        return encode_texts(tokenizer, rows, self.text_columns, self.max_seq_length)

    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        return padding_collator(tokenizer, pad_to_multiple_of)

    @property
    def input_text_column(self) -> str:
        return self.text_columns[0]

    def served_inputs(self, inputs: list[Any]) -> Dataset:
        """A sentence-pair run's inputs are {"text", "text_pair"} objects."""
        if len(self.text_columns) == 1:
            return super().served_inputs(inputs)
        if not all(isinstance(i, dict) for i in inputs):
            first, second = self.text_columns
            raise FtlabError(
                f"this run reads sentence pairs ({first}, {second}): send each input as "
                '{"text": ..., "text_pair": ...}'
            )
        return rows_in_memory(
            {
                column: [pair[key] for pair in inputs]
                for column, key in zip(self.text_columns, PAIR_KEYS, strict=True)
            }
        )

    def prediction_inputs(self, rows: Dataset, tokenizer: Any) -> Dataset:
        rows = checked_inputs(rows, self.text_columns)
        self.check_texts("the input", rows)
        return rows
