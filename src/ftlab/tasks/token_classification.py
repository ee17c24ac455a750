"""Token classification (named-entity recognition): one tag per word, scored per entity.

Reads like Hugging Face's run_ner.py: load (CoNLL columns, json/jsonl, the Hub, builtin
CoNLL-2003) -> tag list -> tokenize words and align tags to sub-word pieces -> collator ->
seqeval metrics -> word-level predictions in CoNLL format. A sentence longer than
`max_seq_length` tokens is split into overlapping windows whose word predictions are merged
back (`long_sequence=windows`: ftlab/tasks/windows.py), or truncated. With
`document_context`, a sentence is encoded with its document's neighbouring sentences around
it, and only its own words are labelled (ftlab/tasks/context.py). At prediction time, raw
text is split into words and the entities come back with character offsets. Defaults:
token_classification.yaml beside this file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict

from ftlab.data.cache import cached_map
from ftlab.data.columns import column_values
from ftlab.data.conll import CONLL_SUFFIXES, DOCUMENT, read_conll
from ftlab.data.sources import read_table_file
from ftlab.data.words import word_spans
from ftlab.errors import FtlabError
from ftlab.metrics import load_metric
from ftlab.models.family import encode_words, word_prefix
from ftlab.records import write_json
from ftlab.tasks import labels as tag_labels
from ftlab.tasks import tag_schemes
from ftlab.tasks.alignment import (
    IGNORE,
    OUTSIDE,
    align_labels,
    continuation_ids,
    first_pieces,
    truncated_words,
)
from ftlab.tasks.base import AnswerOptions, Task, Tokenized
from ftlab.tasks.chunks import MAPPING, chunk_rows
from ftlab.tasks.context import (
    AFTER,
    BEFORE,
    POSITION,
    add_context,
    encode_in_context,
    no_documents,
)
from ftlab.tasks.crf import (
    SCORED_MASK,
    CrfTokenClassification,
    PadScoredMask,
    check_installed,
    scored_masks,
)
from ftlab.tasks.loss import check_class_weights, weighted_loss
from ftlab.tasks.outputs import first_output, softmax
from ftlab.tasks.windows import (
    SENTENCE,
    check_room,
    check_windows,
    encode_windows,
    owned_words,
    window_counts,
    window_stride,
)

log = logging.getLogger(__name__)

SEQEVAL_MODES = ("default", "strict")
PREDICTIONS_FILE = "predictions.conll"
REPORT_FILE = "classification_report"  # .json and .txt
TRUNCATION_FILE = "truncation.json"
# a per-sentence count that tokenize() sums and drops (kept in the cached data so a cache
# hit still knows what truncation cut)
_TRUNCATED = "ftlab_truncated_words"
# ftlab.predict's raw-text column
TEXT_COLUMN = "text"


@dataclass
class TokenClassificationTask(Task):
    """Word-level tags (IOB2: B-PER, I-PER, O; or IOB1, IOE1/2, IOBES, BMES, BILOU), scored
    per entity with seqeval and predicted in the data's own scheme."""

    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    token_column_index: int = 0  # CoNLL files: the column with the token ...
    tag_column_index: int = -1  # ... and the one with its tag (negative counts from the end)
    labels: list[str | int] | None = None  # numbers are label names too (0, 1)
    label_all_tokens: bool = False
    seqeval_mode: str = "default"
    # the data's scheme: auto (detected from the training tags) or one of tag_schemes.SCHEMES
    tag_scheme: str = "auto"
    main_metric: str = "f1"
    # "balanced" or one weight per tag: weights the loss (ftlab/tasks/loss.py)
    class_weights: str | list[float] | None = None
    # long sentences: `windows` (overlapping windows, each word scored in the one that owns
    # it: ftlab/tasks/windows.py) or `truncate` (the words past max_seq_length are lost)
    long_sequence: str = "windows"
    window_stride: int | None = None  # tokens consecutive windows share; null: a quarter
    # each sentence with its document's neighbouring sentences as context, up to
    # max_seq_length tokens; only its own words are labelled (ftlab/tasks/context.py)
    document_context: bool = False
    # json / csv / parquet / Hub rows: the document id column; null: CoNLL -DOCSTART- lines
    document_column: str | None = None
    # the scheme `tag_scheme` resolves to, set by prepare() (a saved run: from its tags)
    scheme: str = field(init=False, default="")
    # what tokenizing found: each window's sentence per split; the split compute_metrics scores
    sentences: dict[str, np.ndarray] = field(init=False, default_factory=dict)
    scoring: str = field(init=False, default="validation")

    model_class: ClassVar[str] = "AutoModelForTokenClassification"
    peft_task_type: ClassVar[str | None] = "TOKEN_CLS"
    metrics: ClassVar[frozenset[str]] = frozenset({"f1", "precision", "recall", "accuracy"})
    csv_predictions: ClassVar[bool] = False  # entities are nested records
    # softmax: a tag per word from the classifier's logits; crf: the Viterbi path of a CRF
    # over them (ftlab/tasks/crf.py)
    heads: ClassVar[tuple[str, ...]] = ("softmax", "crf")

    def check(self) -> None:
        super().check()
        tag_labels.check_given_labels(self.labels)
        check_class_weights(self.class_weights)
        if self.seqeval_mode not in SEQEVAL_MODES:
            raise FtlabError(
                f"task.seqeval_mode must be one of {', '.join(SEQEVAL_MODES)}, "
                f"got '{self.seqeval_mode}'"
            )
        tag_schemes.check_scheme(self.tag_scheme)
        check_windows(self.long_sequence, self.window_stride, self.max_seq_length)
        if self.head == "crf":
            self._check_crf()

    def _check_crf(self) -> None:
        if self.label_all_tokens:
            raise FtlabError(
                "model.head=crf scores each word once, on its first piece; "
                "task.label_all_tokens=true does not combine with it: remove one"
            )
        if self.class_weights is not None:
            raise FtlabError(
                "task.class_weights weights the softmax head's cross-entropy; the CRF's loss "
                "is the likelihood of whole tag paths: remove task.class_weights or model.head=crf"
            )
        check_installed()

    @classmethod
    def known_metric(cls, metric: str) -> bool:
        # f1_<TYPE> per entity type (f1_PER ...): the types come from the data
        return super().known_metric(metric) or metric.startswith("f1_")

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.label_list)}

    # -- data -------------------------------------------------------------------------
    def read_file(self, path: Path) -> Any:
        """CoNLL column files (.conll, .txt, .tsv ...), else csv / json / jsonl / parquet."""
        if path.suffix.lower() in CONLL_SUFFIXES:
            return read_conll(
                path,
                self.token_column_index,
                self.tag_column_index,
                tokens_column=self.tokens_column,
                tags_column=self.tags_column,
                encoding=self.encoding,
                document_column=self._documents if self.document_context else None,
            )
        return read_table_file(path, self.encoding)

    @property
    def _documents(self) -> str:
        """The column of each sentence's document (CoNLL files: from -DOCSTART- lines)."""
        return self.document_column or DOCUMENT

    def prepare(self) -> DatasetDict:
        """Load, check columns, tags and lengths, subsample: the raw splits training will use."""
        required = {"tokens_column": [self.tokens_column], "tags_column": [self.tags_column]}
        if self.document_context and self.document_column:
            required["document_column"] = [self.document_column]
        splits = self.load_splits(required)
        self._check_lengths(splits)
        if self.document_context:  # from the split's own sentences, before subsampling
            splits = DatasetDict(
                {
                    name: add_context(
                        split, self.tokens_column, self._documents, self.max_seq_length
                    )
                    for name, split in splits.items()
                }
            )
        # a sentence's tags are a list per row, like a multi-label row's labels
        self.label_list = tag_labels.label_names(splits, self.tags_column, True, self.labels)
        tag_labels.check_known(splits, self.tags_column, True, self.label_list)
        train_tags = tag_labels.as_names(splits["train"], self.tags_column, True)
        self.scheme = tag_schemes.resolve(self.tag_scheme, self.label_list, train_tags)
        log.info("tag scheme %s (task.tag_scheme=%s)", self.scheme, self.tag_scheme)
        return self.cut_to_size(splits)

    def resolved_scheme(self, sequences: list[list[str]] | None = None) -> str:
        """The data's scheme: prepare()'s, else (a saved run) from the labels and the
        `sequences` of tags at hand."""
        return self.scheme or tag_schemes.resolve(self.tag_scheme, self.label_list, sequences)

    def check_split(self, split_name: str, split: Dataset) -> None:
        """Each row holds a list of string tokens and a list of tags."""
        for column in (self.tokens_column, self.tags_column):
            for row, value in enumerate(column_values(split, column)):
                if not isinstance(value, (list, tuple)) or not all(
                    isinstance(v, (str, int)) for v in value
                ):
                    raise FtlabError(
                        f"{split_name} split, row {row}: '{column}' holds {value!r}; each row "
                        "needs a list of tokens and a list of tags, one per token"
                    )

    def annotate_split(self, split_name: str, split: Dataset) -> Dataset:
        """With `document_context`: each row's place in its file, so that a split cut from
        train still knows the order of its document's sentences."""
        if not self.document_context:
            return split
        if self._documents not in split.column_names:
            raise no_documents(f"the {split_name} data", self.document_column)
        return split.add_column(POSITION, list(range(len(split))))

    def _check_lengths(self, splits: DatasetDict) -> None:
        for split_name, split in splits.items():
            rows = zip(
                column_values(split, self.tokens_column),
                column_values(split, self.tags_column),
                strict=True,
            )
            for row, (tokens, tags) in enumerate(rows):
                if len(tokens) != len(tags):
                    raise FtlabError(
                        f"{split_name} split, row {row}: {len(tokens)} tokens but {len(tags)} "
                        f"tags in '{self.tags_column}'; every token needs one tag"
                    )

    def model_kwargs(self) -> dict[str, Any]:
        return tag_labels.label_kwargs(self.label_list)

    def model_loader(self) -> Any:
        return CrfTokenClassification if self.head == "crf" else super().model_loader()

    def texts(self, split: Dataset) -> list[str]:
        """A sentence's words joined by spaces (a character-level sentence's characters too:
        the tokenizer splits CJK characters alike either way)."""
        return [" ".join(tokens) for tokens in column_values(split, self.tokens_column)]

    # -- tokenization -----------------------------------------------------------------
    @property
    def _stride(self) -> int | None:
        if self.long_sequence != "windows":
            return None
        return window_stride(self.window_stride, self.max_seq_length)

    def encode(self, tokenizer: Any, rows: Any) -> Any:
        """Pre-split words to token ids, truncated, or with `windows` every window of each
        sentence (and the tokenizer's map from window to row); with `document_context` (rows
        that carry it) a sentence that fits among its document's words around it;
        `word_ids(i)` maps the sentence's own tokens back to its words. With the CRF head,
        `scored_mask` marks each owned word's first piece (what the CRF runs over)."""
        encoded = _encode_rows(
            tokenizer, rows, self.tokens_column, self.max_seq_length, self._stride
        )
        if self.head == "crf":
            count = len(encoded["input_ids"])
            owners = _owners(encoded, list(encoded.get(MAPPING, range(count))), self._stride)
            encoded[SCORED_MASK] = [
                _first_piece_mask(encoded.word_ids(i), owned) for i, owned in enumerate(owners)
            ]
        return encoded

    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """Token ids and aligned `labels` (no padding: the collator pads each batch), cached,
        and what truncation cut or windows split (truncation.json).

        With `windows`, each window is an example that labels only the words it owns, so a
        word counts once in the loss and the scores. `label_all_tokens` labels every piece
        of the training words; validation and test are always labelled on first pieces, so
        their scores stay per word.
        """
        # locals, not self: the cache key hashes what the function captures
        tokens_column, tags_column, max_length, stride, crf = (
            self.tokens_column,
            self.tags_column,
            self.max_seq_length,
            self._stride,
            self.head == "crf",
        )
        label2id, name = self.label2id, tag_labels.name_converter(splits["train"], tags_column)

        def encoder(continuation: dict[int, int] | None) -> Any:
            def encode(batch: dict[str, list]) -> dict[str, list]:
                encoded = _encode_rows(tokenizer, batch, tokens_column, max_length, stride)
                rows = chunk_rows(encoded, len(batch[tags_column]))
                owners = _owners(encoded, rows, stride)
                labels, cut = [], []
                for i, row in enumerate(rows):
                    tags, word_ids = batch[tags_column][row], encoded.word_ids(i)
                    word_labels = [label2id[name(tag)] for tag in tags]
                    labels.append(align_labels(word_ids, word_labels, continuation, owners[i]))
                    # a sentence's last window ends where its tokens (or truncation) end
                    last = i == len(rows) - 1 or rows[i + 1] != row
                    cut.append(truncated_words(word_ids, len(tags), max_length) if last else 0)
                encoded["labels"] = labels
                if crf:  # the CRF runs over the labelled positions: first pieces it owns
                    encoded[SCORED_MASK] = scored_masks(labels, IGNORE)
                encoded[_TRUNCATED] = cut
                encoded[SENTENCE] = [batch[SENTENCE][row] for row in rows]
                return encoded

            return encode

        inside = tag_schemes.inside_letter(self.resolved_scheme())
        continuation = continuation_ids(self.label_list, inside) if self.label_all_tokens else None
        if stride is not None:  # before tokenizing: one line, not an error inside map()
            check_room(tokenizer, stride, max_length)
        # each row's index, so every window knows its sentence
        splits = DatasetDict(
            {n: split.add_column(SENTENCE, list(range(len(split)))) for n, split in splits.items()}
        )
        train = DatasetDict({"train": splits["train"]})
        evaluation = DatasetDict({k: v for k, v in splits.items() if k != "train"})
        # the word prefix: an encoding cached before words got their leading space is stale
        prefix = word_prefix(tokenizer)
        settings = ("token-classification", max_length, stride, self.document_context, crf, prefix)
        tokenized = {
            **cached_map(train, encoder(continuation), *settings),
            **cached_map(evaluation, encoder(None), *settings),
        }
        self.sentences = {n: np.array(split[SENTENCE]) for n, split in tokenized.items()}
        truncation: dict[str, Any] = {"max_seq_length": self.max_seq_length}
        if stride is not None:
            truncation.update(long_sequence=self.long_sequence, window_stride=stride)
        for split_name, split in tokenized.items():
            truncation[split_name] = self._count_truncated(split_name, split[_TRUNCATED])
            if stride is not None:
                truncation[split_name]["windowed"] = self._count_windows(split_name)
        return Tokenized(
            DatasetDict(
                {k: v.remove_columns([_TRUNCATED, SENTENCE]) for k, v in tokenized.items()}
            ),
            records={TRUNCATION_FILE: truncation},
        )

    def _count_windows(self, split_name: str) -> dict[str, int]:
        split = window_counts(self.sentences[split_name])
        if split["sentences"]:
            log.info(
                "%s: %d sentences longer than max_seq_length=%d tokens are split into %d "
                "overlapping windows (task.long_sequence=windows)",
                split_name,
                split["sentences"],
                self.max_seq_length,
                split["windows"],
            )
        return split

    def _count_truncated(self, split_name: str, counts: list[int]) -> dict[str, int]:
        cut = {"words": int(sum(counts)), "sentences": sum(1 for c in counts if c)}
        if cut["words"]:
            log.warning(
                "%s: %d words in %d sentences lie beyond max_seq_length=%d tokens: they are "
                "not trained or scored in the Trainer's metrics; in predictions.conll they are "
                "predicted '%s' (set task.long_sequence=windows or raise task.max_seq_length "
                "to keep them)",
                split_name,
                cut["words"],
                cut["sentences"],
                self.max_seq_length,
                OUTSIDE,
            )
        return cut

    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        from transformers import DataCollatorForTokenClassification

        # pads `labels` with IGNORE (-100) as well as the inputs
        collator = DataCollatorForTokenClassification(
            tokenizer, pad_to_multiple_of=pad_to_multiple_of, label_pad_token_id=IGNORE
        )
        return PadScoredMask(collator) if self.head == "crf" else collator

    # -- training and scoring ---------------------------------------------------------
    def loss_function(self, train: Dataset) -> Any:
        return weighted_loss(self.class_weights, train["labels"], self.label_list, False)

    def soft_targets(self) -> str:
        return "softmax"  # one tag per word piece

    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(tag ids, probabilities) per token."""
        probabilities = softmax(logits)
        return probabilities.argmax(axis=-1), probabilities

    def seqeval(self, predictions: list[list[str]], references: list[list[str]]) -> dict:
        """The seqeval module's full report, in `seqeval_mode` (strict: the data's scheme's
        rules), with the tags in letters seqeval knows."""
        scheme = self.resolved_scheme(references)
        options = (
            {"mode": "strict", "scheme": tag_schemes.seqeval_scheme(scheme)}
            if self.seqeval_mode == "strict"
            else {}
        )
        return load_metric("seqeval").compute(
            predictions=tag_schemes.as_seqeval(predictions, scheme),
            references=tag_schemes.as_seqeval(references, scheme),
            **options,
        )

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """Entity precision, recall, F1 (overall and f1_<TYPE>) and tag accuracy, per word
        (first pieces) of whole sentences: a sentence's windows are merged back, each
        word from the window that owns it; the Trainer prefixes them: eval_f1, test_f1_PER ..."""
        predicted = first_output(eval_prediction.predictions).argmax(axis=-1)
        gold = eval_prediction.label_ids
        merged: dict[int, tuple[list[str], list[str]]] = {}
        for sentence, predicted_row, gold_row in zip(
            self._sentences_of(len(gold)), predicted, gold, strict=True
        ):
            # a later window owns later words, so a sentence's scored pieces, window after
            # window, are its words in order
            predictions, references = merged.setdefault(int(sentence), ([], []))
            scored = gold_row != IGNORE
            predictions.extend(self.label_list[i] for i in predicted_row[scored])
            references.extend(self.label_list[i] for i in gold_row[scored])
        predictions, references = zip(*merged.values(), strict=True) if merged else ((), ())
        return self.entity_scores(self.seqeval(list(predictions), list(references)))

    def _sentences_of(self, rows: int) -> np.ndarray:
        """Each scored row's sentence in the split being scored."""
        sentences = self.sentences.get(self.scoring)
        if sentences is None:  # scored without tokenizing it here: a row per sentence
            return np.arange(rows)
        if len(sentences) != rows:
            raise FtlabError(
                f"compute_metrics got {rows} rows but the {self.scoring} split has "
                f"{len(sentences)} windows: score the split that tokenize() made"
            )
        return sentences

    def score_split(self, split: str) -> None:
        self.scoring = split

    @staticmethod
    def entity_scores(report: dict) -> dict[str, float]:
        """The headline numbers of a seqeval report: overall P/R/F1, tag accuracy, f1_<TYPE>."""
        scores = {
            "precision": report["overall_precision"],
            "recall": report["overall_recall"],
            "f1": report["overall_f1"],
            "accuracy": report["overall_accuracy"],
        }
        for entity_type, row in report.items():
            if isinstance(row, dict) and not entity_type.endswith(" avg"):
                scores[f"f1_{entity_type}"] = row["f1"]
        return scores

    def write_predictions(
        self, raw: Dataset, logits: np.ndarray, tokenizer: Any, run_dir: Path
    ) -> None:
        """predictions.conll (token, gold, predicted; tab-separated, a blank line between
        sentences) and the test set's seqeval report over all its words (.json and .txt)."""
        outputs = self.example_outputs(logits, self.encode(tokenizer, raw), raw, tokenizer)
        predictions = self._tags(outputs)
        gold = tag_labels.as_names(raw, self.tags_column, True)
        with open(run_dir / PREDICTIONS_FILE, "w", encoding="utf-8") as handle:
            for words, gold_tags, predicted_tags in zip(
                raw[self.tokens_column], gold, predictions, strict=True
            ):
                for row in zip(words, gold_tags, predicted_tags, strict=True):
                    handle.write("\t".join(row) + "\n")
                handle.write("\n")
        report = self.seqeval(predictions, gold)
        (run_dir / f"{REPORT_FILE}.txt").write_text(report.pop("report"), encoding="utf-8")
        write_json(run_dir / f"{REPORT_FILE}.json", report)

    # -- prediction time --------------------------------------------------------------
    @property
    def input_text_column(self) -> str:
        return TEXT_COLUMN

    def prediction_inputs(self, rows: Dataset, tokenizer: Any) -> Dataset:
        """Rows with a word list (the tokens column) or raw text (`text`, split into words
        as tagged data splits them: punctuation apart, each CJK character a word), row by row
        (a file may mix both), and each word's character span in the text."""
        given = [c for c in (self.tokens_column, TEXT_COLUMN) if c in rows.column_names]
        if not given:
            raise FtlabError(
                f"the input has neither a '{self.tokens_column}' column (a word list) nor a "
                f"'{TEXT_COLUMN}' column (raw text); its columns are: "
                f"{', '.join(rows.column_names)}"
            )
        columns = zip(*(column_values(rows, c) for c in given), strict=True)
        words, texts, offsets = [], [], []
        for row, values in enumerate(columns):
            cells = dict(zip(given, values, strict=True))
            tokens, text = cells.get(self.tokens_column), cells.get(TEXT_COLUMN)
            if isinstance(tokens, (list, tuple)):
                words.append([str(w) for w in tokens])
                texts.append(" ".join(words[-1]))
                offsets.append(_joined_offsets(words[-1]))
            elif isinstance(text, str):
                spans = word_spans(text)
                words.append([text[s:e] for s, e in spans])
                texts.append(text)
                offsets.append(spans)
            else:
                raise FtlabError(
                    f"input row {row} has neither a word list in '{self.tokens_column}' nor a "
                    f"text in '{TEXT_COLUMN}'; give each row one of them"
                )
        columns = {self.tokens_column: words, TEXT_COLUMN: texts, "offsets": offsets}
        if self.document_context:
            columns.update(self._prediction_context(rows, words))
        if self.tags_column in rows.column_names:
            columns[self.tags_column] = tag_labels.as_names(rows, self.tags_column, True)
        return Dataset.from_dict(columns)

    def _prediction_context(self, rows: Dataset, words: list[list[str]]) -> dict[str, list]:
        """The context columns of prediction inputs: kept (a prepared split), or from the
        rows' documents in their order (a CoNLL file with -DOCSTART- lines); none otherwise."""
        if BEFORE in rows.column_names:
            return {BEFORE: rows[BEFORE], AFTER: rows[AFTER]}
        if self._documents not in rows.column_names:
            log.info(
                "no document context: the input has no document boundaries (a CoNLL file "
                "with -DOCSTART- lines, or a '%s' column); each sentence is predicted alone",
                self._documents,
            )
            return {}
        documents = Dataset.from_dict(
            {self.tokens_column: words, self._documents: rows[self._documents]}
        )
        documents = add_context(documents, self.tokens_column, self._documents, self.max_seq_length)
        return {BEFORE: documents[BEFORE], AFTER: documents[AFTER]}

    def example_outputs(
        self, logits: np.ndarray, encoded: Any, inputs: Any, tokenizer: Any
    ) -> list[np.ndarray]:
        """Per sentence, a (words x tags) array of probabilities, from each word's first
        piece in the window that owns it; a word cut off by truncation (or without a token)
        is 'O' with certainty."""
        probabilities = self.decode(logits)[1]
        outside = self.label_list.index(OUTSIDE) if OUTSIDE in self.label_list else 0
        result = []
        for words in column_values(inputs, self.tokens_column):
            sentence = np.zeros((len(words), len(self.label_list)), dtype=np.float32)
            sentence[:, outside] = 1.0
            result.append(sentence)
        rows = list(encoded[MAPPING]) if MAPPING in encoded else list(range(len(result)))
        for i, owned in enumerate(_owners(encoded, rows, self._stride)):
            for word, position in first_pieces(encoded.word_ids(i), owned).items():
                result[rows[i]][word] = probabilities[i, position]
        return result

    def _tags(self, outputs: list[np.ndarray]) -> list[list[str]]:
        return [[self.label_list[j] for j in p.argmax(axis=-1)] for p in outputs]

    def prediction_records(
        self, inputs: Dataset, outputs: list[np.ndarray], tokenizer: Any
    ) -> list[dict]:
        """Text, words, tags (the data's scheme), and the entities with character offsets
        and a score."""
        scheme = self.resolved_scheme()
        rows = []
        for row, tags, p in zip(inputs, self._tags(outputs), outputs, strict=True):
            text, offsets = row[TEXT_COLUMN], row["offsets"]
            entities = []
            for entity_type, first, last in tag_schemes.entity_spans(tags, scheme):
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
            words = row[self.tokens_column]
            rows.append({"text": text, "tokens": words, "tags": tags, "entities": entities})
        return rows

    def served(self, record: dict, options: AnswerOptions) -> Any:
        """`{"entities": [{entity_group, word, start, end, score}]}` (character offsets into
        the text), or with aggregation "none" each word and its tag."""
        if options.aggregation == "none":
            return {"tokens": record["tokens"], "tags": record["tags"]}
        entities = [
            {
                "entity_group": e["entity"],
                "word": e["text"],
                "start": e["start"],
                "end": e["end"],
                "score": e["score"],
            }
            for e in record["entities"]
        ]
        return {"entities": entities}

    def prediction_gold(self, inputs: Dataset) -> list | None:
        if self.tags_column not in inputs.column_names:
            return None
        return list(inputs[self.tags_column])

    def prediction_scores(self, outputs: list[np.ndarray], gold: list) -> dict[str, float]:
        """seqeval over every word, as the run's classification_report is."""
        return self.entity_scores(self.seqeval(self._tags(outputs), gold))


def _encode_rows(
    tokenizer: Any, rows: Any, tokens_column: str, max_length: int, stride: int | None
) -> Any:
    """The sentences of `rows` (a split or a batch of one), in their document context where
    the rows carry it (`document_context`), else each alone."""
    sentences = list(rows[tokens_column])
    columns = rows.column_names if isinstance(rows, Dataset) else rows.keys()
    if BEFORE not in columns:
        return _encode_words(tokenizer, sentences, max_length, stride)
    return encode_in_context(
        tokenizer,
        sentences,
        rows[BEFORE],
        rows[AFTER],
        max_length,
        lambda alone: _encode_words(tokenizer, alone, max_length, stride),
    )


def _encode_words(
    tokenizer: Any, sentences: list[list[str]], max_length: int, stride: int | None
) -> Any:
    """Truncated token ids, or (a stride given) every window of each sentence."""
    if stride is None:
        return encode_words(tokenizer, sentences, truncation=True, max_length=max_length)
    return encode_windows(tokenizer, sentences, max_length, stride)


def _owners(encoded: Any, rows: list[int], stride: int | None) -> list[set[int] | None]:
    """The words each encoded row scores: those its window owns; None (truncated): all."""
    if stride is None:
        return [None] * len(rows)
    return list(owned_words(encoded, rows, stride))


def _first_piece_mask(word_ids: list[int | None], owned: set[int] | None) -> list[int]:
    """1 on each (owned) word's first piece, 0 elsewhere."""
    positions = set(first_pieces(word_ids, owned).values())
    return [int(position in positions) for position in range(len(word_ids))]


def _joined_offsets(words: list[str]) -> list[list[int]]:
    """Character spans of the words in `" ".join(words)`."""
    spans, start = [], 0
    for word in words:
        spans.append([start, start + len(word)])
        start += len(word) + 1
    return spans
