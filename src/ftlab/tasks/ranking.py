"""Retrieval metrics of a sentence encoder, computed by sentence-transformers' evaluators.

A split of (query, answer) rows becomes an information-retrieval problem: each distinct
query against a corpus (the split's distinct answers, or a corpus file's texts), the
query's own answers relevant. `InformationRetrievalEvaluator` ranks the whole corpus (MRR,
nDCG, recall, MAP); `RerankingEvaluator` ranks each query's answer among `distractors`
random other answers, the usual evaluation of response selection ("1 in 10": its MRR@1 is
the share of queries whose answer comes first). Here they are only wired to the rows and
their metric names made ftlab's (`mrr_at_10`: "@" is no name MLflow or Hydra accepts).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sentence_transformers.base.evaluation import BaseEvaluator
from sentence_transformers.sentence_transformer.evaluation import (
    InformationRetrievalEvaluator,
    RerankingEvaluator,
)

from ftlab.tasks.outputs import top_indices

# the evaluators' names (`cosine_mrr@10`, `1in10_mrr@1` ...) -> ftlab's metric names
IR_METRICS = {
    "map": "map",  # a cross-encoder's, over the candidates it reranks
    "mrr@10": "mrr_at_10",
    "ndcg@10": "ndcg_at_10",
    "recall@1": "recall_at_1",
    "recall@5": "recall_at_5",
    "recall@10": "recall_at_10",
    "map@100": "map_at_100",
}
# the answer ranked first among it and n - 1 random others (n = distractors + 1)
ONE_IN_N = "recall_at_1_of_n"


@dataclass
class RankingProblem:
    """Queries, a corpus, and which corpus ids answer which query (ids are positions)."""

    queries: list[str]
    corpus: list[str]
    relevant: list[set[int]]

    @classmethod
    def of_pairs(
        cls, queries: Sequence[str], answers: Sequence[str], corpus: Sequence[str] | None = None
    ) -> RankingProblem:
        """Each distinct query once, with every answer it has in the rows; the corpus is
        `corpus` (answers must be in it) or the rows' distinct answers, in first-seen order."""
        texts = list(dict.fromkeys(corpus if corpus is not None else answers))
        position = {text: i for i, text in enumerate(texts)}
        relevant: dict[str, set[int]] = {}
        for query, answer in zip(queries, answers, strict=True):
            if answer in position:
                relevant.setdefault(query, set()).add(position[answer])
        return cls(list(relevant), texts, list(relevant.values()))

    def ir_evaluator(self, name: str, batch_size: int) -> KeepingRankings:
        return KeepingRankings(
            queries={str(i): q for i, q in enumerate(self.queries)},
            corpus={str(i): text for i, text in enumerate(self.corpus)},
            relevant_docs={str(i): {str(c) for c in cs} for i, cs in enumerate(self.relevant)},
            mrr_at_k=[10],
            ndcg_at_k=[10],
            accuracy_at_k=[1],
            precision_recall_at_k=[1, 5, 10],
            map_at_k=[100],
            batch_size=batch_size,
            name=name,
            write_csv=False,
        )

    def scores(self, hits: list[list[dict]]) -> dict[str, float]:
        """The metrics of ranked hits per query ([{corpus_id, score}], in `queries`'
        order), by the IR evaluator's own arithmetic."""
        values = self.ir_evaluator("scores", batch_size=1).compute_metrics(hits)
        return _ours(
            {
                f"cosine_{name.replace('@k', f'@{k}')}": value
                for name, by_k in values.items()
                for k, value in by_k.items()
            }
        )

    def one_in_n_samples(self, distractors: int, seed: int) -> list[dict]:
        """Each query's first answer among `distractors` answers of other queries, drawn
        with `seed` (the same draw on every evaluation): the samples of a reranking
        evaluator, whose MRR@1 is then the 1-in-n recall."""
        draw = random.Random(seed)
        samples = []
        for query, answers in zip(self.queries, self.relevant, strict=True):
            others = draw.sample(range(len(self.corpus)), distractors + len(answers))
            negatives = [self.corpus[i] for i in others if i not in answers][:distractors]
            positive = self.corpus[min(answers)]
            samples.append({"query": query, "positive": [positive], "negative": negatives})
        return samples


def hits_of_scores(scores: Sequence[Any], top_k: int) -> list[list[dict]]:
    """Each row of corpus scores as the IR evaluator's ranked hits (a score of -inf: not
    ranked, e.g. no candidate of a reranker)."""
    hits = []
    for row in scores:
        top = top_indices(row, top_k)
        hits.append([{"corpus_id": str(i), "score": float(row[i])} for i in top])
    return hits


def _ours(metrics: dict[str, float]) -> dict[str, float]:
    """The evaluators' metric names as ftlab's: `test_cosine_mrr@10` -> `mrr_at_10`, a
    cross-encoder's `test_base_mrr@10` (the first stage's order) -> `first_stage_mrr_at_10`."""
    renamed = {}
    for key, value in metrics.items():
        if "one_in_n_" in key:  # of the 1-in-n evaluator only its MRR@1 (= recall@1)
            if key.endswith("one_in_n_mrr@1"):
                renamed[ONE_IN_N] = float(value)
            continue
        name = key.rsplit("_", 1)[-1]
        if name in IR_METRICS:
            stage = "first_stage_" if "_base_" in key else ""
            renamed[stage + IR_METRICS[name]] = float(value)
    return renamed


class KeepingRankings(InformationRetrievalEvaluator):
    """The IR evaluator that also keeps the top hits of its last run per query."""

    rankings: list[list[dict]]

    def compute_metrics(self, queries_result_list: list[object]) -> Any:
        self.rankings = queries_result_list  # [{"corpus_id", "score"}] per query
        return super().compute_metrics(queries_result_list)


class OneInN(RerankingEvaluator):
    """The reranking evaluator of 1-in-n samples, embedding each distinct text once (the
    library embeds every sample's documents, so each answer n times over)."""

    def embed_inputs(self, model: Any, sentences: Any, **kwargs: Any) -> Any:
        distinct = list(dict.fromkeys(sentences))
        embeddings = super().embed_inputs(model, distinct, **kwargs)
        where = {text: i for i, text in enumerate(distinct)}
        return embeddings[[where[text] for text in sentences]]


class SplitRanking(BaseEvaluator):
    """The evaluator the Trainer calls: it scores the split the task says (validation in
    training, then test) with the evaluators `build` makes of that split's problem (made
    once, on first use), in ftlab's metric names."""

    def __init__(
        self,
        problems: dict[str, RankingProblem],
        build: Callable[[str, RankingProblem], list[Any]],
        main_metric: str,
    ) -> None:
        super().__init__()
        self.problems, self.build = problems, build
        self.split = "validation"
        self.primary_metric = main_metric
        self.greater_is_better = True
        self._evaluators: dict[str, list[Any]] = {}

    def evaluators(self, split: str) -> list[Any]:
        if split not in self._evaluators:
            self._evaluators[split] = self.build(split, self.problems[split])
        return self._evaluators[split]

    def __call__(self, model: Any, output_path: str | None = None, **_: Any) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for evaluator in self.evaluators(self.split):
            metrics.update(evaluator(model))
        return _ours(metrics)

    def rankings(self) -> list[list[dict]]:
        """The last run's top hits per query of the current split: [{corpus_id, score}]
        (from its first evaluator, an IR evaluator)."""
        return self.evaluators(self.split)[0].rankings
