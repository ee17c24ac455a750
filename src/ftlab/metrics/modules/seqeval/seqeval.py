"""Entity-level scores from `seqeval` as an `evaluate` module, shipped with ftlab and loaded
by local path (no download).

Wraps `seqeval.metrics.classification_report`: an entity counts as found only when its type
and its exact span match. `mode="strict"` with a `scheme` ("IOB2", "IOBES", ...) follows the
scheme's rules (an I- tag after O starts no entity); the default is conlleval's lenient way.
"""

import datasets
import evaluate
from seqeval.metrics import accuracy_score, classification_report

_DESCRIPTION = "Entity-level precision, recall and F1 (seqeval), per type and overall."
_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of predicted tags (B-PER, I-PER, O, ...) per sentence.
    references: one list of gold tags per sentence, aligned with the predictions.
    mode: None (conlleval's lenient rules) or "strict" (the scheme's rules).
    scheme: with mode="strict": "IOB1", "IOB2", "IOE1", "IOE2", "IOBES" or "BILOU".
    suffix: True when the type comes first (PER-B instead of B-PER).
    zero_division: the value when a ratio has a zero denominator.
Returns:
    overall_precision, overall_recall, overall_f1: micro averages over all entities.
    overall_accuracy: the share of tags (not entities) that are right.
    one entry per entity type and "micro avg", "macro avg", "weighted avg", each with
    precision, recall, f1 and number (the gold entities).
    report: the same report as seqeval prints it (text).
"""
_CITATION = "Hiroki Nakayama, seqeval: A Python framework for sequence labeling evaluation, 2018."

_SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Seqeval(evaluate.Metric):
    def _info(self):
        tags = datasets.Sequence(datasets.Value("string"))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": tags, "references": tags}),
        )

    def _compute(
        self, predictions, references, mode=None, scheme=None, suffix=False, zero_division=0
    ):
        if scheme is not None:
            if scheme not in _SCHEMES:
                raise ValueError(f"scheme must be one of {', '.join(_SCHEMES)}, got {scheme!r}")
            import seqeval.scheme

            scheme = getattr(seqeval.scheme, scheme)
        options = {"suffix": suffix, "mode": mode, "scheme": scheme, "zero_division": zero_division}
        report = classification_report(references, predictions, output_dict=True, **options)
        scores = {
            name: {
                "precision": float(row["precision"]),
                "recall": float(row["recall"]),
                "f1": float(row["f1-score"]),
                "number": int(row["support"]),
            }
            for name, row in report.items()
        }
        overall = scores["micro avg"]
        # seqeval cannot lay out a text report without a single entity type
        has_types = len(scores) > 3
        scores.update(
            overall_precision=overall["precision"],
            overall_recall=overall["recall"],
            overall_f1=overall["f1"],
            overall_accuracy=float(accuracy_score(references, predictions)),
            report=(
                classification_report(references, predictions, digits=4, **options)
                if has_types
                else "no entities in references or predictions\n"
            ),
        )
        return scores
