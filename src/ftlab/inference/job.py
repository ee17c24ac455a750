"""`ftlab.predict`: one run or an ensemble over the input rows -> predictions (+ metrics)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ftlab.errors import FtlabError
from ftlab.inference.inputs import read_input
from ftlab.inference.kinds import Batching, ClassificationKind, inference_kind
from ftlab.inference.predictor import pick_device
from ftlab.inference.runs import check_same_labels, load_run, run_paths

log = logging.getLogger("ftlab.predict")

ENSEMBLE = "ensemble"


def predict(cfg: DictConfig) -> dict[str, dict[str, float]]:
    """Write the predictions to `cfg.output`; with gold labels in the input (or
    `evaluate=true`), return and print each member's metrics and the ensemble's."""
    paths = run_paths(cfg.run)
    if cfg.evaluate and cfg.input is not None:
        raise FtlabError(
            "evaluate=true scores the run's own test split; drop input=, or drop evaluate"
        )
    if not cfg.evaluate and cfg.input is None:
        raise FtlabError("no input; set input=FILE (or input=- for stdin), or evaluate=true")
    if int(cfg.batch_size) <= 0:
        raise FtlabError(f"batch_size must be a number above 0, got {cfg.batch_size!r}")
    # the cheap checks first: loading the models takes seconds
    if cfg.input not in (None, "-") and not Path(str(cfg.input)).expanduser().is_file():
        raise FtlabError(f"input={cfg.input}: no such file")
    _check_output(str(cfg.output), None)
    runs = [load_run(path) for path in paths]
    check_same_labels(runs)
    lead = runs[0]
    kind = inference_kind(lead.task)
    _check_output(str(cfg.output), kind)
    if cfg.evaluate:
        rows = lead.task.prepare()["test"]
    else:
        rows = read_input(str(cfg.input), str(cfg.input_format), lead.task, kind.text_column)
    examples = kind.examples(rows, lead.tokenizer)
    batching = Batching(int(cfg.batch_size), pick_device(str(cfg.device)), bool(cfg.progress))
    members = [kind.probabilities(run, examples, batching) for run in runs]
    # the ensemble: the mean of the members' probabilities, example by example
    probabilities = [np.mean(stack, axis=0) for stack in zip(*members, strict=True)]
    _write(str(cfg.output), kind.records(examples, probabilities))
    gold = kind.gold(examples)
    if gold is None:
        return {}
    metrics = {run.name: kind.score(p, gold) for run, p in zip(runs, members, strict=True)}
    if len(runs) > 1:
        metrics[ENSEMBLE] = kind.score(probabilities, gold)
    print(metrics_table(metrics), file=sys.stderr if cfg.output == "-" else sys.stdout)
    return metrics


def _check_output(output: str, kind: Any) -> None:
    """A file type we write (`kind` None: before the task kind is known)."""
    suffix = Path(output).suffix.lower()
    if output != "-" and suffix not in (".jsonl", ".csv"):
        raise FtlabError(f"output={output}: use a .jsonl or .csv file, or - for stdout")
    if suffix == ".csv" and kind is not None and not isinstance(kind, ClassificationKind):
        raise FtlabError(f"output={output}: entities need nested records; use a .jsonl file")


def _write(output: str, records: list[dict]) -> None:
    """jsonl (stdout for `-`), or csv with one `score_<label>` column per label."""
    if output.lower().endswith(".csv"):
        import pandas as pd

        flat = [
            {
                **{k: v for k, v in r.items() if k not in ("label", "scores")},
                "label": ";".join(r["label"]) if isinstance(r["label"], list) else r["label"],
                **{f"score_{label}": p for label, p in r["scores"].items()},
            }
            for r in records
        ]
        pd.DataFrame(flat).to_csv(output, index=False)
    else:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if output == "-":
            sys.stdout.write(lines)
            sys.stdout.flush()
        else:
            Path(output).write_text(lines, encoding="utf-8")
    log.info("%d predictions written to %s", len(records), "stdout" if output == "-" else output)


def metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    """One row per run (and the ensemble), one column per metric."""
    names = sorted({name for scores in metrics.values() for name in scores})
    width = max(len(run) for run in metrics) + 2
    lines = [f"{'run':<{width}}" + "".join(f"{n:>12}" for n in names)]
    for run, scores in metrics.items():
        cells = (f"{scores[n]:>12.4f}" if n in scores else f"{'-':>12}" for n in names)
        lines.append(f"{run:<{width}}" + "".join(cells))
    return "\n".join(lines)
