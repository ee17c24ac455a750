"""What predicting means for each task kind: inputs, per-example probabilities, the output
record, and scoring against gold labels with the task's own metric code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset

from ftlab.errors import FtlabError
from ftlab.inference.predictor import features_only, model_logits, to_logits
from ftlab.inference.runs import Run
from ftlab.tasks.alignment import OUTSIDE, first_pieces
from ftlab.tasks.classification import SequenceClassificationTask, encode_texts
from ftlab.tasks.labels import as_names
from ftlab.tasks.token_classification import encode_words

# words of raw text where a tokenizer has no pre-tokenizer to split them
_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass
class Batching:
    """How the model runs: batch size, device, progress bar."""

    batch_size: int
    device: str
    progress: bool


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in values]


class ClassificationKind:
    """Sequence classification: one label (softmax) or a set of labels (sigmoid) per text."""

    def __init__(self, task: SequenceClassificationTask) -> None:
        self.task = task

    @property
    def text_column(self) -> str:
        return self.task.text_columns[0]

    def examples(self, rows: Dataset, tokenizer: Any) -> Dataset:
        missing = [c for c in self.task.text_columns if c not in rows.column_names]
        if missing:
            raise FtlabError(
                f"the input has no column {', '.join(repr(c) for c in missing)} (the run's "
                f"task.text_column); its columns are: {', '.join(rows.column_names)}"
            )
        return rows

    @staticmethod
    def encode(run: Run, examples: Dataset) -> Any:
        """The task's own tokenization of the examples, unpadded."""
        columns = [list(examples[c]) for c in run.task.text_columns]
        return encode_texts(run.tokenizer, columns, run.task.max_seq_length)

    def probabilities(self, run: Run, examples: Dataset, batching: Batching) -> list[np.ndarray]:
        encoded = self.encode(run, examples)
        logits = model_logits(
            run, features_only(encoded), batching.batch_size, batching.device, batching.progress
        )
        return list(run.task.decode(logits)[1])

    def _decode(self, probabilities: list[np.ndarray]) -> np.ndarray:
        return self.task.decode(to_logits(np.stack(probabilities), self.task.multi_label))[0]

    def records(self, examples: Dataset, probabilities: list[np.ndarray]) -> list[dict]:
        labels = self.task.label_list
        rows = []
        for row, predicted, scores in zip(
            examples, self._decode(probabilities), probabilities, strict=True
        ):
            label: Any = (
                [labels[j] for j in np.flatnonzero(predicted)]
                if self.task.multi_label
                else labels[int(predicted)]
            )
            rows.append(
                {
                    **{c: row[c] for c in self.task.text_columns},
                    "label": label,
                    "scores": dict(zip(labels, _round(scores), strict=True)),
                }
            )
        return rows

    def gold(self, examples: Dataset) -> list | None:
        column = self.task.label_column
        if column not in examples.column_names:
            return None
        return as_names(examples, column, self.task.multi_label)

    def score(self, probabilities: list[np.ndarray], gold: list) -> dict[str, float]:
        """The task's compute_metrics, on logits rebuilt from the probabilities."""
        from transformers import EvalPrediction

        label2id = self.task.label2id
        unknown = sorted(
            {g for row in gold for g in (row if self.task.multi_label else [row])} - set(label2id)
        )
        if unknown:
            raise FtlabError(
                f"the input's '{self.task.label_column}' has labels the run does not know: "
                f"{', '.join(unknown[:5])}; its labels are: {', '.join(self.task.label_list)}"
            )
        if self.task.multi_label:
            references = np.array([[float(lbl in set(g)) for lbl in label2id] for g in gold])
        else:
            references = np.array([label2id[g] for g in gold])
        logits = to_logits(np.stack(probabilities), self.task.multi_label)
        return self.task.compute_metrics(EvalPrediction(predictions=logits, label_ids=references))


class TokenKind:
    """Token classification: a tag per word and the entities they make, with character
    offsets into the text. Input rows hold a word list (the task's tokens column) or raw
    text (`text`), which the model's own pre-tokenizer splits into words."""

    text_column = "text"

    def __init__(self, task: Any) -> None:
        self.task = task

    def examples(self, rows: Dataset, tokenizer: Any) -> Dataset:
        tokens_column = self.task.tokens_column
        if tokens_column in rows.column_names:
            words = [list(map(str, w)) for w in rows[tokens_column]]
            texts = [" ".join(w) for w in words]
            offsets = [_joined_offsets(w) for w in words]
        elif self.text_column in rows.column_names:
            texts = [str(t) for t in rows[self.text_column]]
            split = [_split_words(t, tokenizer) for t in texts]
            words = [[texts[i][s:e] for s, e in spans] for i, spans in enumerate(split)]
            offsets = split
        else:
            raise FtlabError(
                f"the input has neither a '{tokens_column}' column (a word list) nor a "
                f"'{self.text_column}' column (raw text); its columns are: "
                f"{', '.join(rows.column_names)}"
            )
        columns = {"text": texts, "words": words, "offsets": offsets}
        if self.task.tags_column in rows.column_names:
            columns["gold"] = as_names(rows, self.task.tags_column, True)
        return Dataset.from_dict(columns)

    @staticmethod
    def encode(run: Run, examples: Dataset) -> Any:
        """The task's own tokenization of the words, unpadded; `word_ids(i)` maps back."""
        return encode_words(run.tokenizer, list(examples["words"]), run.task.max_seq_length)

    def probabilities(self, run: Run, examples: Dataset, batching: Batching) -> list[np.ndarray]:
        """Per sentence, a (words x labels) array: each word's first piece; a word cut off by
        truncation is 'O' with certainty, as in the run's own predictions.conll."""
        sentences = list(examples["words"])
        encoded = self.encode(run, examples)
        features = features_only(encoded)
        logits = model_logits(
            run, features, batching.batch_size, batching.device, batching.progress
        )
        labels = run.task.label_list
        result = []
        for i, words in enumerate(sentences):
            probabilities = np.zeros((len(words), len(labels)), dtype=np.float32)
            probabilities[:, labels.index(OUTSIDE) if OUTSIDE in labels else 0] = 1.0
            for word, position in first_pieces(encoded.word_ids(i)).items():
                row = logits[i, position]
                shifted = np.exp(row - row.max())
                probabilities[word] = shifted / shifted.sum()
            result.append(probabilities)
        return result

    def _tags(self, probabilities: list[np.ndarray]) -> list[list[str]]:
        labels = self.task.label_list
        return [[labels[j] for j in p.argmax(axis=-1)] for p in probabilities]

    def records(self, examples: Dataset, probabilities: list[np.ndarray]) -> list[dict]:
        from seqeval.metrics.sequence_labeling import get_entities

        rows = []
        for row, tags, p in zip(examples, self._tags(probabilities), probabilities, strict=True):
            text, offsets = row["text"], row["offsets"]
            entities = []
            for entity_type, first, last in get_entities(tags):
                start, end = offsets[first][0], offsets[last][1]
                entities.append(
                    {
                        "entity": entity_type,
                        "start": start,
                        "end": end,
                        "text": text[start:end],
                        # the mean probability of the span's predicted tags
                        "score": round(float(p[first : last + 1].max(axis=-1).mean()), 5),
                    }
                )
            rows.append({"text": text, "tokens": row["words"], "tags": tags, "entities": entities})
        return rows

    def gold(self, examples: Dataset) -> list | None:
        return list(examples["gold"]) if "gold" in examples.column_names else None

    def score(self, probabilities: list[np.ndarray], gold: list) -> dict[str, float]:
        """seqeval over every word, as the run's classification_report is."""
        return self.task.entity_scores(self.task.seqeval(self._tags(probabilities), gold))


def _joined_offsets(words: list[str]) -> list[list[int]]:
    """Character spans of the words in `" ".join(words)`."""
    spans, start = [], 0
    for word in words:
        spans.append([start, start + len(word)])
        start += len(word) + 1
    return spans


def _split_words(text: str, tokenizer: Any) -> list[list[int]]:
    """Word spans in `text`, split the way the model's fast tokenizer pre-splits text."""
    pre_tokenizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "pre_tokenizer", None)
    if pre_tokenizer is None:
        return [[m.start(), m.end()] for m in _WORD.finditer(text)]
    spans = []
    for _, (start, end) in pre_tokenizer.pre_tokenize_str(text):
        # a marker-style pre-tokenizer (SentencePiece's ▁) may count the space in the span
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            spans.append([start, end])
    return spans


def inference_kind(task: Any) -> ClassificationKind | TokenKind:
    if isinstance(task, SequenceClassificationTask):
        return ClassificationKind(task)
    return TokenKind(task)
