"""`ftlab.predict`: one run or an ensemble over the input rows -> predictions (+ metrics)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from omegaconf import DictConfig

from ftlab.errors import FtlabError, boundary
from ftlab.inference.inputs import read_input
from ftlab.inference.predictor import Batching, ensemble, pick_device, run_outputs
from ftlab.inference.runs import check_same_labels, load_run, run_paths
from ftlab.metrics.table import metrics_table

log = logging.getLogger("ftlab.predict")

ENSEMBLE = "ensemble"


def predict(cfg: DictConfig, stdout: TextIO | None = None) -> dict[str, dict[str, float]]:
    """Write the predictions to `cfg.output` (`stdout`, default sys.stdout, for `-`); with
    gold labels in the input (or `evaluate=true`), return and print each member's metrics
    and the ensemble's (to stderr when the predictions take `stdout`)."""
    stdout = stdout or sys.stdout
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
    with boundary("loading the run's model", "check that the run completed and model/ is whole"):
        runs = [load_run(path, merge=bool(cfg.get("merge"))) for path in paths]
    check_same_labels(runs)
    if cfg.get("corpus") is not None:
        for run in runs:
            run.task.use_corpus(str(cfg.corpus))
    generation = {k: v for k, v in (cfg.get("generation") or {}).items() if v is not None}
    if generation:
        for run in runs:
            run.task.use_generation(generation)
    reranker = None
    if cfg.get("rerank") is not None:
        rerank_paths = run_paths(cfg.rerank)
        if len(rerank_paths) > 1:
            raise FtlabError("rerank= takes one run (the cross-encoder); give a single RUN_DIR")
        with boundary("loading the rerank run's model", "check that the run completed"):
            reranker = load_run(rerank_paths[0])
    task = runs[0].task
    _check_output(str(cfg.output), task)
    if cfg.evaluate:
        rows = task.prepare()["test"]
    else:
        rows = read_input(str(cfg.input), str(cfg.input_format), task)
    inputs = task.prediction_inputs(rows, runs[0].tokenizer)
    batching = Batching(int(cfg.batch_size), pick_device(str(cfg.device)), bool(cfg.progress))
    with boundary("predicting"):
        members = [run_outputs(run, inputs, batching) for run in runs]
    outputs = ensemble(members)
    if reranker is not None:  # the first stage's best candidates, scored anew
        with boundary("reranking"):
            reranked = reranker.task.reranked(reranker.model, task, inputs, outputs, batching)
    with boundary(f"writing output={cfg.output}", "choose another output="):
        records = task.prediction_records(
            inputs, reranked if reranker else outputs, runs[0].tokenizer
        )
        _write(str(cfg.output), records, task, stdout)
    gold = task.prediction_gold(inputs)
    if gold is None:
        return {}
    metrics = {
        run.name: task.prediction_scores(member, gold)
        for run, member in zip(runs, members, strict=True)
    }
    if len(runs) > 1:
        metrics[ENSEMBLE] = task.prediction_scores(outputs, gold)
    if reranker is not None:
        metrics[f"reranked by {reranker.name}"] = task.prediction_scores(reranked, gold)
    columns = sorted({name for scores in metrics.values() for name in scores})
    print(
        metrics_table(metrics, "run", columns),
        file=sys.stderr if cfg.output == "-" else stdout,
    )
    return metrics


def _check_output(output: str, task: Any) -> None:
    """A file type we write (`task` None: before the run's task is known)."""
    suffix = Path(output).suffix.lower()
    if output != "-" and suffix not in (".jsonl", ".csv"):
        raise FtlabError(f"output={output}: use a .jsonl or .csv file, or - for stdout")
    if suffix == ".csv" and task is not None and not task.csv_predictions:
        raise FtlabError(f"output={output}: the predictions are nested records; use a .jsonl file")


def _write(output: str, records: list[dict], task: Any, stdout: TextIO) -> None:
    """jsonl (stdout for `-`), or csv in the task's flat rows."""
    if output.lower().endswith(".csv"):
        import pandas as pd

        pd.DataFrame([task.csv_row(r) for r in records]).to_csv(output, index=False)
    else:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if output == "-":
            stdout.write(lines)
            stdout.flush()
        else:
            Path(output).write_text(lines, encoding="utf-8")
    log.info("%d predictions written to %s", len(records), "stdout" if output == "-" else output)
