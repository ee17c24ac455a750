"""Response selection on the built-in movie dialogues (`experiment=movie_replies_minilm`):
BM25, zero-shot MiniLM, and MiniLM fine-tuned as a bi-encoder over several seeds (mean ±
std, wall time), all on the same test split: 2,000 statements ranked against their 1,9xx
distinct replies (MRR@10, nDCG@10, recall) and 1 in 10 (recall_at_1_of_n).

    python benchmarks/retrieval.py [--seeds 42 43 44] [--out experiments/retrieval.md]

BM25 is bm25s (Lucene's variant, English stop words, no stemming) scored by the same
evaluator arithmetic (ftlab/tasks/ranking.py); it has no 1-in-10 figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, ftlab_command, machine, shown

PRESET = "experiment=movie_replies_minilm"
METRICS = ("mrr_at_10", "ndcg_at_10", "recall_at_1", "recall_at_10", "recall_at_1_of_n")


def _ftlab(run_dir: Path, *overrides: str) -> dict:
    args = ftlab_command(
        PRESET, f"hydra.run.dir={run_dir}", "trainer.disable_tqdm=true", *overrides
    )
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {shown(args)}\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]
    return {"seconds": seconds, "command": shown(args[:4] + list(overrides)), **metrics}


def _bm25() -> dict:
    from ftlab.config.compose import compose_config
    from ftlab.config.resolvers import register_resolvers
    from ftlab.config.targets import build_task
    from ftlab.tasks.ranking import RankingProblem, hits_of_scores
    from ftlab.tasks.rerank import bm25_scores

    register_resolvers()
    started = time.perf_counter()
    task = build_task(compose_config([PRESET]).task)
    test = task.prepare()["test"]
    problem = RankingProblem.of_pairs(test[task.query_column], test[task.answer_column])
    scores = bm25_scores(problem.queries, problem.corpus)
    metrics = problem.scores(hits_of_scores(scores, 100))
    return {
        "seconds": time.perf_counter() - started,
        **{f"test_{k}": v for k, v in metrics.items()},
    }


def _cell(runs: list[dict], metric: str) -> str:
    values = [run[f"test_{metric}"] for run in runs if f"test_{metric}" in run]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    host = machine()
    with tempfile.TemporaryDirectory(prefix="ftlab-retrieval-") as scratch:
        rows = {"BM25 (bm25s)": [_bm25()]}
        rows["MiniLM zero-shot (`trainer.do_train=false`)"] = [
            _ftlab(Path(scratch, "zero-shot"), "trainer.do_train=false")
        ]
        rows[f"MiniLM fine-tuned, {len(options.seeds)} seeds"] = [
            _ftlab(Path(scratch, f"seed-{seed}"), f"trainer.seed={seed}") for seed in options.seeds
        ]
    lines = [
        f"Machine: {host}.",
        "",
        "| model | " + " | ".join(METRICS) + " | wall (s) |",
        "|---|" + "---|" * (len(METRICS) + 1),
    ]
    for name, runs in rows.items():
        seconds = statistics.mean(run["seconds"] for run in runs)
        lines.append(
            f"| {name} | " + " | ".join(_cell(runs, m) for m in METRICS) + f" | {seconds:.0f} |"
        )
    commands = [run["command"] for runs in rows.values() for run in runs if "command" in run]
    lines += ["", "Commands:", "", "```bash", *commands, "```"]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.out:
        options.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
