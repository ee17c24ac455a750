"""What one run got right and wrong, from the files it wrote: per-class precision / recall /
F1 (classification_report.json: classes, or NER entity types), the confusion matrix of a
single-label run and its most confidently wrong test examples, or a generating run's replies
(predictions.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ftlab.report.runs import Run

REPORT_FILE = "classification_report.json"
PREDICTIONS_FILE = "predictions.jsonl"
CHUNKS_FILE = "chunks.json"  # long_document=chunks: documents and chunks per split
DECISION_FILE = "model/decision.json"  # threshold=tune: what validation chose
HARDEST = 10  # wrong test examples shown per run
_NOT_A_CLASS = ("accuracy", "macro avg", "weighted avg", "micro avg", "samples avg", "overall_")


def per_class(run: Run) -> pd.DataFrame | None:
    """precision / recall / F1 / support per class or entity type, or None."""
    path = run.path / REPORT_FILE
    if not path.is_file():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = {
        name: {
            "precision": scores.get("precision"),
            "recall": scores.get("recall"),
            "f1": scores.get("f1-score", scores.get("f1")),
            "support": scores.get("support", scores.get("number")),
        }
        for name, scores in report.items()
        if isinstance(scores, dict) and not name.startswith(_NOT_A_CLASS)
    }
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def _predictions(run: Run) -> list[dict[str, Any]]:
    path = run.path / PREDICTIONS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def confusion(run: Run) -> tuple[list[str], np.ndarray] | None:
    """(labels, counts[gold, predicted]) of a single-label run's test predictions."""
    from sklearn.metrics import confusion_matrix

    rows = _predictions(run)
    if not rows or not isinstance(rows[0].get("label"), str):
        return None  # multi-label, regression or NER: no single confusion matrix
    labels = list(rows[0]["scores"])
    gold = [r["label"] for r in rows]
    predicted = [r["prediction"] for r in rows]
    return labels, confusion_matrix(gold, predicted, labels=labels)


def hardest(run: Run, count: int = HARDEST) -> pd.DataFrame | None:
    """The test examples the run got wrong with the highest confidence in its answer."""
    rows = [
        r
        for r in _predictions(run)
        if isinstance(r.get("label"), str) and r["prediction"] != r["label"]
    ]
    if not rows:
        return None
    rows.sort(key=lambda r: -r["scores"][r["prediction"]])
    return pd.DataFrame(
        {
            "text": [r["text"][:300] for r in rows[:count]],
            "gold": [r["label"] for r in rows[:count]],
            "predicted": [r["prediction"] for r in rows[:count]],
            "confidence": [round(r["scores"][r["prediction"]], 4) for r in rows[:count]],
        }
    )


def generations(run: Run, count: int = HARDEST) -> pd.DataFrame | None:
    """A generating run's (task kind sft) first test replies beside their references."""
    rows = [r for r in _predictions(run) if "reply" in r and "messages" in r][:count]
    if not rows:
        return None
    return pd.DataFrame(
        {
            "prompt": [r["messages"][-1]["content"][:300] for r in rows],
            "reference": [r.get("reference", "")[:300] for r in rows],
            "reply": [r["reply"][:300] for r in rows],
        }
    )


def chunking(run: Run) -> pd.DataFrame | None:
    """Documents, chunks and chunks per document of each split (long_document=chunks)."""
    path = run.path / CHUNKS_FILE
    if not path.is_file():
        return None
    return pd.DataFrame.from_dict(json.loads(path.read_text(encoding="utf-8")), orient="index")


def thresholds(run: Run) -> pd.DataFrame | None:
    """The decision thresholds chosen on validation (threshold=tune), per label if so."""
    path = run.path / DECISION_FILE
    if not path.is_file():
        return None
    chosen = json.loads(path.read_text(encoding="utf-8")).get("thresholds")
    if not chosen:
        return None
    per_label = chosen.get("per_label") or {"(all labels)": chosen["value"]}
    fallback = set(chosen.get("fallback_labels") or [])
    return pd.DataFrame(
        {
            "label": list(per_label),
            "threshold": list(per_label.values()),
            "chosen on validation": [label not in fallback for label in per_label],
        }
    )


def best_runs(runs: list[Run]) -> dict[str, Run]:
    """Per task: the completed run with the best validation score (its direction)."""
    best: dict[str, Run] = {}
    for run in runs:
        metric = run.metrics.get("validation", {}).get(f"eval_{run.main_metric}")
        if metric is None:
            continue
        task = str(run.config.get("task.name"))
        merit = metric if run.maximize else -metric
        if task not in best or merit > _merit(best[task]):
            best[task] = run
    return best


def _merit(run: Run) -> float:
    metric = run.metrics["validation"][f"eval_{run.main_metric}"]
    return metric if run.maximize else -metric


def run_label(run: Run, root: Path) -> str:
    try:
        return str(run.path.relative_to(root))
    except ValueError:
        return str(run.path)
