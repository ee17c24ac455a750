"""Retrieval (a bi-encoder): a sentence encoder trained so that a query's embedding lies
nearest its answers', for answer selection, response selection and recommendation.

Trained by sentence-transformers' `SentenceTransformerTrainer` (a `transformers.Trainer`
subclass, so TrainingArguments keys, callbacks, trackers and resume work as for every
kind) on (query, answer) pairs with in-batch negatives (MultipleNegativesRankingLoss, on
the no-duplicates batch sampler, so an answer repeated in the data is never another
row's negative), optionally with hard negative columns; or on scored pairs with CoSENT.
Scored against a corpus (the split's distinct answers, or `corpus_file`) by the library's
retrieval evaluators (tasks/ranking.py). ftlab.predict returns each query's top answers
from a corpus. Defaults: retrieval.yaml beside this file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict

from ftlab.data.columns import column_values
from ftlab.data.sources import LINE_SUFFIXES, read_lines
from ftlab.errors import FtlabError
from ftlab.tasks.base import AnswerOptions, OutputContext, Task, Tokenized, require_columns
from ftlab.tasks.outputs import top_indices
from ftlab.tasks.text import check_texts

PAIRS_FILE = "pairs.json"  # what the splits hold: pairs, distinct queries and answers
PREDICTIONS_FILE = "predictions.jsonl"

log = logging.getLogger(__name__)


@dataclass
class SentenceModelLoader:
    """`from_pretrained` for a sentence-transformers model class (`SentenceTransformer`, an
    encoder; `CrossEncoder`, a pair scorer): a checkpoint of that class as it is (its
    pooling, its head), or any transformers checkpoint (mean pooling; a new head), each
    with `options` (a cross-encoder's one output)."""

    model_class: str
    max_seq_length: int
    options: dict[str, Any] = field(default_factory=dict)

    def from_pretrained(
        self,
        source: str | Path,
        revision: str | None = None,
        trust_remote_code: bool = False,
        use_safetensors: bool | None = None,
        output_loading_info: bool = False,
        ignore_mismatched_sizes: bool = False,
        **config_kwargs: Any,
    ) -> Any:
        import sentence_transformers

        # it logs each load and every metric of each evaluation at INFO; ftlab's table
        # shows the metrics once
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        model = getattr(sentence_transformers, self.model_class)(
            str(source),
            device="cpu",  # the Trainer places it
            revision=revision,
            trust_remote_code=trust_remote_code,
            local_files_only=Path(str(source)).is_dir(),
            model_kwargs={"use_safetensors": use_safetensors},
            config_kwargs=config_kwargs,
            **self.options,
        )
        model[0].max_seq_length = self.max_seq_length  # its tokenizer's truncation
        return (model, {"missing_keys": []}) if output_loading_info else model


@dataclass
class RetrievalTask(Task):
    """(query, answer) rows; `negative_columns` (hard negatives) or `score_column`
    (scored pairs) optional."""

    query_column: str = "query"
    answer_column: str = "answer"
    negative_columns: list[str] = field(default_factory=list)
    score_column: str | None = None
    loss: str = "auto"  # auto: the scored loss with score_column, else mnrl
    no_duplicates: bool = True  # the batch sampler that keeps repeated texts apart
    mine_negatives: int = 0  # hard negatives per pair, mined with the model as loaded
    mine_margin: float = 0.05  # a mined negative scores at most (1 - this) x the answer
    corpus_file: str | None = None  # the corpus to rank (evaluation, ftlab.predict)
    corpus_column: str = "text"  # its text column (a .txt corpus: one text a line)
    distractors: int = 9  # recall_at_1_of_n: the answer among n - 1 = 9 random others
    top_k: int = 10  # answers per query in predictions
    similarity_batch_size: int = 64  # texts per batch when embedding for evaluation
    main_metric: str = "mrr_at_10"

    model_class: ClassVar[str] = "SentenceTransformer"
    peft_task_type: ClassVar[str | None] = None
    metrics: ClassVar[frozenset[str]] = frozenset(
        {"mrr_at_10", "ndcg_at_10", "recall_at_1", "recall_at_5", "recall_at_10"}
        | {"map_at_100", "recall_at_1_of_n"}
    )
    losses: ClassVar[tuple[str, str]] = ("mnrl", "cosent")  # in-batch negatives; scored pairs
    csv_predictions: ClassVar[bool] = False  # the top answers per query are nested records
    heads: ClassVar[tuple[str, ...]] = ("softmax",)  # the encoder's own pooling; no head
    endpoint: ClassVar[str | None] = "search"

    def __post_init__(self) -> None:
        self._ranking: Any = None  # the evaluator, once the trainer is set up
        self.corpus: list[str] = []  # what predictions rank, and the rows they ranked it for
        self._inputs: Any = None
        super().__post_init__()

    def check(self) -> None:
        super().check()
        in_batch, scored = self.losses
        if self.loss not in ("auto", *self.losses):
            raise FtlabError(f"task.loss must be auto, {in_batch} or {scored}, got '{self.loss}'")
        if self.chosen_loss == scored and not self.score_column:
            raise FtlabError(f"task.loss={scored} trains on scored pairs: set task.score_column")
        if self.chosen_loss == in_batch and self.score_column:
            raise FtlabError(
                f"task.loss={in_batch} trains on (query, answer) pairs without scores: drop "
                f"task.score_column, or use task.loss={scored}"
            )
        if self.mine_negatives and (self.negative_columns or self.score_column):
            raise FtlabError(
                "task.mine_negatives adds negatives to (query, answer) pairs; drop "
                "task.negative_columns / task.score_column, or task.mine_negatives"
            )
        if not 0 <= self.mine_margin < 1:
            raise FtlabError(f"task.mine_margin must be in [0, 1), got {self.mine_margin!r}")
        for key, least in (
            ("distractors", 0),
            ("mine_negatives", 0),
            ("top_k", 1),
            ("similarity_batch_size", 1),
        ):
            if getattr(self, key) < least:
                raise FtlabError(f"task.{key} must be a whole number of at least {least}")

    @property
    def chosen_loss(self) -> str:
        if self.loss != "auto":
            return self.loss
        return self.losses[1] if self.score_column else self.losses[0]

    @property
    def text_columns(self) -> list[str]:
        return [self.query_column, self.answer_column, *self.negative_columns]

    # -- data -------------------------------------------------------------------------
    def check_split(self, split_name: str, split: Dataset) -> None:
        check_texts(split, self.text_columns, f"{split_name} data")
        if self.score_column:
            for row, value in enumerate(column_values(split, self.score_column)):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise FtlabError(
                        f"{split_name} data, row {row}: '{self.score_column}' holds {value!r}, "
                        "not a number (task.score_column: a similarity score per pair)"
                    )

    def prepare(self) -> DatasetDict:
        columns = {"query_column": [self.query_column], "answer_column": [self.answer_column]}
        if self.negative_columns:
            columns["negative_columns"] = list(self.negative_columns)
        if self.score_column:
            columns["score_column"] = [self.score_column]
        return self.cut_to_size(self.load_splits(columns))

    def texts(self, split: Dataset) -> list[str]:
        return [*split[self.query_column], *split[self.answer_column]]

    def corpus_texts(self) -> list[str] | None:
        """The texts of `corpus_file` (None: the split's own answers are the corpus)."""
        if not self.corpus_file:
            return None
        from ftlab.config.paths import resolve_path

        path = Path(resolve_path(self.corpus_file))
        if not path.is_file():
            raise FtlabError(f"task.corpus_file={self.corpus_file}: no such file")
        if path.suffix.lower() in LINE_SUFFIXES:
            return read_lines(path, self.encoding)
        rows = self.read_file(path)
        require_columns(rows, [self.corpus_column], f"corpus {path}", "task.corpus_column")
        check_texts(rows, [self.corpus_column], f"corpus {path}")
        return list(rows[self.corpus_column])

    # -- model --------------------------------------------------------------------------
    def model_loader(self) -> Any:
        return SentenceModelLoader(self.model_class, self.max_seq_length)

    def model_kwargs(self) -> dict[str, Any]:
        return {}

    # -- tokenization: the trainer's collator tokenizes each batch ----------------------
    def encode(self, tokenizer: Any, rows: Any) -> Any:
        return tokenizer(
            list(rows[self.query_column]), truncation=True, max_length=self.max_seq_length
        )

    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """The text columns in the order the loss reads them (query, answer, negatives; or
        the pair and its score as `label`); the collator tokenizes them batch by batch."""
        keep = self.text_columns + ([self.score_column] if self.score_column else [])
        ordered = DatasetDict({name: split.select_columns(keep) for name, split in splits.items()})
        if self.score_column:
            ordered = ordered.rename_column(self.score_column, "label")
        record = {
            name: {
                "pairs": len(split),
                "queries": len(set(split[self.query_column])),
                "answers": len(set(split[self.answer_column])),
            }
            for name, split in splits.items()
        }
        return Tokenized(ordered, records={PAIRS_FILE: record})

    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        return None  # sentence-transformers' own (it tokenizes each text column)

    def prediction_collator(self, tokenizer: Any) -> Any:
        """ftlab.export's: it pads `encode`'s queries."""
        from ftlab.tasks.text import padding_collator

        return padding_collator(tokenizer, None)

    def exported_model(self, model: Any) -> Any:
        """The encoder with the sentence embedding as its output."""
        from ftlab.tasks.encoder_graph import SentenceEmbedding

        return SentenceEmbedding(model)

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        """How far an exported encoder's embeddings are from PyTorch's: the largest
        difference of a component, and of a cosine similarity from 1."""
        cosine = (reference * other).sum(-1) / (
            np.linalg.norm(reference, axis=-1) * np.linalg.norm(other, axis=-1)
        )
        return {
            "max_abs_logit_diff": float(np.abs(reference - other).max()),
            "max_abs_output_diff": float(np.abs(1 - cosine).max()),
        }

    # -- the trainer ----------------------------------------------------------------------
    def trainer_setup(self, model: Any, raw: DatasetDict, tokenizer: Any) -> tuple[type, dict]:
        """sentence-transformers' trainer for `model_class`, with the kind's loss and the
        evaluator of the validation and test splits (ranking their answers, or the
        corpus file)."""
        import sentence_transformers

        from ftlab.tasks.ranking import RankingProblem, SplitRanking

        model[0].processor = tokenizer  # as prepared: its family's pad token
        corpus = self.corpus_texts()
        problems = {
            split: RankingProblem.of_pairs(
                raw[split][self.query_column], raw[split][self.answer_column], corpus
            )
            for split in ("validation", "test")
        }
        self._ranking = SplitRanking(problems, self.split_evaluators, self.main_metric)
        trainer = getattr(sentence_transformers, f"{self.model_class}Trainer")
        options = {"loss": self.loss_module(model), "evaluator": self._ranking}
        if self.mine_negatives:
            options["train_dataset"] = self.mined(self.miner(model), raw["train"], tokenizer)
        return trainer, options

    def miner(self, model: Any) -> Any:
        """The bi-encoder that mines hard negatives: the model as loaded."""
        return model

    def mining_options(self) -> dict[str, Any]:
        """Which answers `mine_hard_negatives` may take: the highest ranked short of
        `mine_margin` below the pair's own answer (nearer ones are likely right answers too)."""
        return {"relative_margin": self.mine_margin, "sampling_strategy": "top"}

    def mined(self, model: Any, train: Dataset, tokenizer: Any) -> Dataset:
        """The training pairs with `mine_negatives` hard negatives each: answers of other
        pairs that the bi-encoder `model` ranks high for the query (`mining_options`);
        sentence-transformers' `mine_hard_negatives`. A pair without enough is dropped."""
        from sentence_transformers.util import mine_hard_negatives

        pairs = self.tokenize(DatasetDict({"train": train}), tokenizer).splits["train"]
        mined = mine_hard_negatives(
            pairs,
            model,
            anchor_column_name=self.query_column,
            positive_column_name=self.answer_column,
            num_negatives=self.mine_negatives,
            output_format="n-tuple",
            batch_size=self.similarity_batch_size,
            verbose=False,
            **self.mining_options(),
        )
        if len(mined) == 0:
            raise FtlabError(
                f"task.mine_negatives={self.mine_negatives}: no training pair has that many "
                f"answers of others scoring below {1 - self.mine_margin:.0%} of its own; "
                "lower task.mine_margin or task.mine_negatives"
            )
        log.info(
            "mined %d hard negatives for each of %d of the %d training pairs",
            self.mine_negatives,
            len(mined),
            len(pairs),
        )
        return mined

    def loss_module(self, model: Any) -> Any:
        from sentence_transformers.sentence_transformer import losses

        if self.chosen_loss == "cosent":
            return losses.CoSENTLoss(model)
        return losses.MultipleNegativesRankingLoss(model)

    def split_evaluators(self, split: str, problem: Any) -> list[Any]:
        """The whole corpus ranked (IR metrics), and 1 in n (`distractors` + 1)."""
        from ftlab.tasks.ranking import OneInN

        batch = self.similarity_batch_size
        evaluators = [problem.ir_evaluator(split, batch)]
        if self.distractors and len(problem.corpus) > self.distractors:
            samples = problem.one_in_n_samples(self.distractors, self.shuffle_seed)
            evaluators.append(
                OneInN(samples, at_k=1, name="one_in_n", write_csv=False, batch_size=batch)
            )
        return evaluators

    def arguments_class(self) -> tuple[type, dict[str, Any]]:
        import sentence_transformers

        arguments = getattr(sentence_transformers, f"{self.model_class}TrainingArguments")
        sampler = "no_duplicates" if self.no_duplicates else "batch_sampler"
        # the evaluator scores; the Trainer's own pass computes only the loss
        fields = {"batch_sampler": sampler, "prediction_loss_only": True}
        return arguments, fields

    # -- scoring ------------------------------------------------------------------------
    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        return {}  # the evaluator scores (SplitRanking): a ranking is no batch of logits

    def score_split(self, split: str) -> None:
        if self._ranking is not None:
            self._ranking.split = split

    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the best corpus id, its score) of each row of query x corpus scores."""
        return logits.argmax(axis=-1), logits.max(axis=-1)

    def write_predictions(
        self, raw: Dataset, logits: np.ndarray, tokenizer: Any, run_dir: Path
    ) -> None:
        """Each test query's top answers with their scores and where its own answer ranked
        (from the test evaluation's rankings)."""
        if self._ranking is None:
            return
        problem = self._ranking.problems["test"]
        lines = []
        for query, relevant, hits in zip(
            problem.queries, problem.relevant, self._ranking.rankings(), strict=True
        ):
            ranked = sorted(hits, key=lambda hit: -hit["score"])[: self.top_k]
            ids = [int(hit["corpus_id"]) for hit in ranked]
            rank = next((i + 1 for i, c in enumerate(ids) if c in relevant), None)
            record = {
                "query": query,
                "answers": [problem.corpus[c] for c in sorted(relevant)],
                "answer_rank": rank,  # 1 = first; None: not in the top_k
                "top": [
                    {"text": problem.corpus[c], "score": round(float(hit["score"]), 5)}
                    for c, hit in zip(ids, ranked, strict=True)
                ],
            }
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        (run_dir / PREDICTIONS_FILE).write_text("".join(lines), encoding="utf-8")

    # -- prediction time: the top answers of a corpus for each query ----------------------
    @property
    def input_text_column(self) -> str:
        return self.query_column

    def check_servable(self) -> None:
        """ftlab.serve searches a corpus: the run's own task.corpus_file, or serve's corpus=."""
        if self.corpus_file is None:
            raise FtlabError(
                "ftlab.serve of a retrieval run searches a corpus: set corpus=FILE (csv / "
                f"jsonl with a '{self.corpus_column}' column, or .txt: one text a line)"
            )

    def served(self, record: dict, options: AnswerOptions) -> Any:
        """The best `top_k` corpus texts (at most task.top_k) with their cosine scores."""
        return {"top": record["top"][: options.top_k]}

    def prediction_inputs(self, rows: Dataset, tokenizer: Any) -> Dataset:
        require_columns(rows, [self.query_column], "the input", "the run's task.query_column")
        check_texts(rows, [self.query_column], "the input")
        return rows

    def use_corpus(self, path: str) -> None:
        if not Path(path).expanduser().is_file():
            raise FtlabError(f"corpus={path}: no such file")
        self.corpus_file = str(Path(path).expanduser())
        self.corpus_texts()  # a missing or unreadable corpus stops before the model runs

    def prediction_corpus(self, inputs: Dataset) -> list[str]:
        """What predictions rank: `corpus_file` (predict's corpus=), else the input's own
        answers (evaluate=true ranks the test split's answers, as training scored it)."""
        corpus = self.corpus_texts()
        if corpus is not None:
            return corpus
        if self.answer_column in inputs.column_names:
            return list(dict.fromkeys(inputs[self.answer_column]))
        raise FtlabError(
            "no corpus to rank: set corpus=FILE (csv/jsonl with a "
            f"'{self.corpus_column}' column, or .txt: one text a line)"
        )

    def model_outputs(
        self, model: Any, inputs: Dataset, context: OutputContext
    ) -> list[np.ndarray]:
        """Each query's cosine similarity to every corpus text (an ensemble averages
        them); the corpus embedded once per run and corpus (cached in the run directory)."""
        corpus = self.prediction_corpus(inputs)
        self.corpus, self._inputs = corpus, inputs
        encoding = {"batch_size": context.batch_size, "show_progress_bar": context.progress}
        embeddings = _cached_embeddings(model, corpus, encoding, context.cache_dir)
        queries = model.encode(list(inputs[self.query_column]), convert_to_tensor=True, **encoding)
        scores = model.similarity(queries, embeddings).cpu().numpy()
        return list(scores)

    def example_outputs(
        self, logits: np.ndarray, encoded: Any, inputs: Dataset, tokenizer: Any
    ) -> list[np.ndarray]:
        return list(logits)

    def prediction_records(
        self, inputs: Dataset, outputs: list[np.ndarray], tokenizer: Any
    ) -> list[dict]:
        records = []
        for row, scores in zip(inputs, outputs, strict=True):
            top = top_indices(scores, self.top_k)  # -inf: not ranked (rerank=)
            records.append(
                {
                    self.query_column: row[self.query_column],
                    "top": [
                        {"text": self.corpus[i], "score": round(float(scores[i]), 5)} for i in top
                    ],
                }
            )
        return records

    def prediction_gold(self, inputs: Dataset) -> list | None:
        if self.answer_column not in inputs.column_names:
            return None
        return list(inputs[self.answer_column])

    def prediction_scores(self, outputs: list[np.ndarray], gold: list) -> dict[str, float]:
        """The retrieval metrics of the scores, by the library's own arithmetic (the
        evaluator's `compute_metrics` over the ranked hits)."""
        from ftlab.tasks.ranking import RankingProblem, hits_of_scores

        queries = list(self._inputs[self.query_column])
        problem = RankingProblem.of_pairs(queries, gold, self.corpus)  # as training scores
        first_row = {}
        for row, query in enumerate(queries):
            first_row.setdefault(query, row)
        return problem.scores(hits_of_scores([outputs[first_row[q]] for q in problem.queries], 100))


def _cached_embeddings(
    model: Any, corpus: list[str], encoding: dict[str, Any], cache_dir: Path
) -> Any:
    """The corpus's embeddings, computed once per model and corpus (a file named by the
    hash of the texts, beside the run's model)."""
    import torch

    digest = hashlib.sha256("\n".join(corpus).encode("utf-8")).hexdigest()[:16]
    path = cache_dir / f"{digest}.pt"
    if path.is_file():
        return torch.load(path)
    embeddings = model.encode(corpus, convert_to_tensor=True, **encoding)
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    torch.save(embeddings, scratch)
    scratch.replace(path)  # whole or absent, for a concurrent reader
    return embeddings
