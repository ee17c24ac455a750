"""Reranking (a cross-encoder): a model that reads a query and a candidate answer together
and scores the pair, to reorder the top candidates of a first stage (a bi-encoder run of
task kind retrieval, or BM25).

Trained by sentence-transformers' `CrossEncoderTrainer` (a `transformers.Trainer`
subclass) on the same (query, answer) pairs as retrieval: with in-batch negatives
(the cross-encoder's MultipleNegativesRankingLoss, `num_negatives` per pair) and, with
`mine_negatives`, hard negatives mined by the first stage's bi-encoder (the candidates it
will be asked to reorder); or on scored pairs (`score_column`, 0..1) with binary
cross-entropy. Evaluated by reranking each query's `candidates` from the first stage
(`CrossEncoderRerankingEvaluator`: MRR@10, nDCG@10, MAP, and the first stage's own figures
beside them) and 1 in n. In ftlab.predict, `rerank=RUN` reorders a retrieval run's top
candidates. Defaults: rerank.yaml beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ftlab.errors import FtlabError
from ftlab.tasks.base import OutputContext
from ftlab.tasks.outputs import top_indices
from ftlab.tasks.retrieval import RetrievalTask, SentenceModelLoader

BM25 = "bm25"


@dataclass
class RerankTask(RetrievalTask):
    """(query, answer) rows, or scored pairs; ranked among a first stage's candidates."""

    first_stage: str = BM25  # bm25, or a retrieval run directory (its bi-encoder)
    candidates: int = 20  # the first stage's top candidates per query that are reranked
    num_negatives: int = 4  # in-batch negatives per pair (the cross-encoder's MNRL)

    model_class: ClassVar[str] = "CrossEncoder"
    endpoint: ClassVar[str | None] = None  # ftlab.serve searches with the retrieval run
    losses: ClassVar[tuple[str, str]] = ("mnrl", "bce")  # scored pairs: scores in 0..1
    metrics: ClassVar[frozenset[str]] = frozenset(
        {"mrr_at_10", "ndcg_at_10", "map", "recall_at_1_of_n"}
        | {"first_stage_mrr_at_10", "first_stage_ndcg_at_10", "first_stage_map"}
    )

    def check(self) -> None:
        super().check()
        if self.negative_columns:
            raise FtlabError(
                "task.negative_columns: the reranker takes in-batch negatives "
                f"(task.num_negatives={self.num_negatives}); drop task.negative_columns"
            )
        if self.mine_negatives and self.first_stage == BM25:
            raise FtlabError(
                "task.mine_negatives mines with the first stage's bi-encoder: set "
                "task.first_stage to a retrieval run, or drop task.mine_negatives"
            )
        if self.candidates < 1 or self.num_negatives < 1:
            raise FtlabError("task.candidates and task.num_negatives must be above 0")
        if self.mine_negatives >= self.candidates:
            raise FtlabError(
                f"task.mine_negatives={self.mine_negatives} are drawn from the first stage's "
                f"top task.candidates={self.candidates}: mine fewer, or rerank more"
            )
        if self.first_stage != BM25 and not (Path(self.first_stage) / "model").is_dir():
            raise FtlabError(
                f"task.first_stage={self.first_stage}: not a finished retrieval run (no "
                "model/); give a run directory of task kind retrieval, or bm25"
            )

    def check_servable(self) -> None:
        raise FtlabError(
            "a rerank run reorders a retrieval run's candidates; ftlab.serve searches with "
            "the retrieval run (and ftlab.predict chains the two: rerank=RUN)"
        )

    def model_loader(self) -> Any:
        one_score = {"num_labels": 1, "max_length": self.max_seq_length}
        return SentenceModelLoader(self.model_class, self.max_seq_length, one_score)

    def miner(self, model: Any) -> Any:
        """The first stage's bi-encoder: the reranker learns to tell the answer from the
        candidates it will be given (not the cross-encoder being trained, which cannot)."""
        return first_stage_encoder(self.first_stage)

    def mining_options(self) -> dict[str, Any]:
        """Answers drawn at random from the first stage's top `candidates` for the query,
        the pair's own excluded: what the reranker will reorder, however the first stage
        ranked the pair's own answer (a margin below it would drop most pairs of a weak
        first stage, whose own answer is seldom near the top)."""
        return {"range_max": self.candidates, "sampling_strategy": "random"}

    def loss_module(self, model: Any) -> Any:
        from sentence_transformers.cross_encoder import losses

        if self.chosen_loss == "bce":
            return losses.BinaryCrossEntropyLoss(model)
        return losses.MultipleNegativesRankingLoss(model, num_negatives=self.num_negatives)

    def split_evaluators(self, split: str, problem: Any) -> list[Any]:
        """The first stage's candidates reranked, and 1 in n."""
        from sentence_transformers.cross_encoder.evaluation import (
            CrossEncoderRerankingEvaluator,
        )

        batch = self.similarity_batch_size
        candidates = first_stage_candidates(self.first_stage, problem, self.candidates, batch)
        samples = [
            {
                "query": query,
                "positive": [problem.corpus[c] for c in sorted(relevant)],
                "documents": [problem.corpus[c] for c in ranked],
            }
            for query, relevant, ranked in zip(
                problem.queries, problem.relevant, candidates, strict=True
            )
        ]
        evaluators = [
            # not always_rerank_positives: an answer the first stage missed stays missed
            CrossEncoderRerankingEvaluator(
                samples,
                at_k=10,
                always_rerank_positives=False,
                name=split,
                write_csv=False,
                batch_size=batch,
            )
        ]
        if self.distractors and len(problem.corpus) > self.distractors:
            evaluators.append(
                CrossEncoderRerankingEvaluator(
                    problem.one_in_n_samples(self.distractors, self.shuffle_seed),
                    at_k=1,
                    name="one_in_n",
                    write_csv=False,
                    batch_size=batch,
                )
            )
        return evaluators

    def write_predictions(self, raw: Any, logits: Any, tokenizer: Any, run_dir: Path) -> None:
        return None  # the reranked order per query is what ftlab.predict rerank= gives

    # -- prediction time: a retrieval run's candidates, reordered ---------------------
    def model_outputs(self, model: Any, inputs: Any, context: OutputContext) -> list[np.ndarray]:
        raise FtlabError(
            "a rerank run reorders a retrieval run's candidates: ftlab.predict "
            "run=<retrieval run> rerank=<this run> corpus=FILE"
        )

    def reranked(
        self, model: Any, first: Any, inputs: Any, scores: list[np.ndarray], batching: Any
    ) -> list[np.ndarray]:
        """Each query's `candidates` best by the retrieval run's `scores`, scored anew by
        the cross-encoder; the rest of the corpus -inf (not ranked)."""
        if not isinstance(first, RetrievalTask) or isinstance(first, RerankTask):
            raise FtlabError(
                f"rerank= reorders a retrieval run's answers; run= is {type(first).__name__}"
            )
        reranked = []
        for query, row in zip(inputs[first.query_column], scores, strict=True):
            top = top_indices(row, self.candidates)
            new = np.full(len(row), -np.inf, dtype=np.float32)
            new[top] = model.predict(
                [(query, first.corpus[i]) for i in top],
                batch_size=batching.batch_size,
                show_progress_bar=False,
            )
            reranked.append(new)
        return reranked


def first_stage_candidates(
    first_stage: str, problem: Any, count: int, batch_size: int
) -> list[list[int]]:
    """Each query's `count` best corpus ids, best first: by BM25 (bm25s), or by the
    bi-encoder of a retrieval run."""
    if first_stage == BM25:
        scores = bm25_scores(problem.queries, problem.corpus)
    else:
        encoder = first_stage_encoder(first_stage)
        encode = {"batch_size": batch_size, "convert_to_tensor": True}
        scores = encoder.similarity(
            encoder.encode(problem.queries, **encode), encoder.encode(problem.corpus, **encode)
        ).numpy()
    return [list(top_indices(row, count)) for row in scores]


def first_stage_encoder(run_dir: str) -> Any:
    """The bi-encoder of a retrieval run."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(Path(run_dir) / "model"), device="cpu")


def bm25_scores(queries: list[str], corpus: list[str]) -> np.ndarray:
    """BM25 (bm25s: Lucene's variant, English stop words) of each query against the corpus."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False))
    tokens = bm25s.tokenize(queries, stopwords="en", return_ids=False, show_progress=False)
    # a query of stop words only ("what?") has no terms: every text scores 0
    return np.stack(
        [retriever.get_scores(query) if query else np.zeros(len(corpus)) for query in tokens]
    )
