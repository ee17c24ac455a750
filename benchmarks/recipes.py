"""Full fine-tuning against LoRA against head-only training, 3 seeds each (issue 8).

MiniLM (offline) on TREC intent questions (6 classes), 1,000 training questions, 1 epoch,
300 validation and 300 test questions;
each run is a real `python -m ftlab.run` in its own process, so its peak RSS (recorded by
ftlab in metrics.json) is its own. Runs go seed by seed (every method for seed 1 first), and a
finished run is not run again. Prints a markdown table: test and validation accuracy as
mean ± std over the seeds, trainable parameters (params.json), the Trainer's train_runtime
and the peak RSS, each averaged over the seeds.

    python benchmarks/recipes.py [--seeds 1 2 3] [--out experiments/recipes-compare]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
COMMON = [
    "task=intent",
    "model=minilm",
    "hardware=cpu",
    "task.max_train_samples=1000",
    "task.max_eval_samples=300",
    "task.max_seq_length=64",
    "trainer.num_train_epochs=1",
    "trainer.per_device_train_batch_size=32",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
    "trainer.logging_steps=20",
    "trainer.disable_tqdm=true",
]
# each method at a learning rate usual for it
METHODS = {
    "full fine-tuning": ["optimizer.learning_rate=1e-4"],
    "LoRA (r=8, query/value)": ["peft=lora", "optimizer.learning_rate=1e-3"],
    "head only (model.freeze=encoder)": ["model.freeze=encoder", "optimizer.learning_rate=1e-3"],
}


def run(method: str, overrides: list[str], seed: int, out: Path) -> dict:
    run_dir = out / f"{list(METHODS).index(method)}-seed{seed}"
    if not (run_dir / "metrics.json").exists():
        command = [sys.executable, "-m", "ftlab.run", *COMMON, *overrides]
        command += [f"trainer.seed={seed}", f"hydra.run.dir={run_dir}"]
        subprocess.run(command, cwd=ROOT, check=True, stdin=subprocess.DEVNULL)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    params = json.loads((run_dir / "params.json").read_text())
    return {
        "method": method,
        "seed": seed,
        "test accuracy": metrics["test"]["test_accuracy"],
        "validation accuracy": metrics["validation"]["eval_accuracy"],
        "trainable parameters": params["trainable_parameters"],
        "train time (s)": metrics["train"]["train_runtime"],
        "peak RSS (MiB)": metrics["train"]["peak_rss_mib"],
    }


def table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    grouped = frame.groupby("method", sort=False)
    lines = [
        "| method | seeds | test accuracy | validation accuracy | trainable parameters "
        "| train time | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, group in grouped:
        test, val = group["test accuracy"], group["validation accuracy"]
        lines.append(
            f"| {method} | {len(group)} | {test.mean():.4f} ± {test.std():.4f} | "
            f"{val.mean():.4f} ± {val.std():.4f} | {group['trainable parameters'].iloc[0]:,} | "
            f"{group['train time (s)'].mean():.0f} s | {group['peak RSS (MiB)'].mean():,.0f} MiB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "recipes-compare")
    args = parser.parse_args()
    rows = [
        run(method, overrides, seed, args.out)
        for seed in args.seeds
        for method, overrides in METHODS.items()
    ]
    print(table(rows))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
