"""Training throughput of 1 process against 2 processes on the same work (`make bench`).

Both runs train MiniLM (offline) on the same TREC questions for the same number of
optimizer steps with the same effective batch: 1 process x 2 accumulation steps against
2 processes x 1, 16 examples per device. Each is a real `python -m ftlab.run` (the second
through `hardware=ddp`, i.e. `accelerate launch`); samples/s is the Trainer's
train_samples_per_second (training loop only), wall is the whole command including
process start, data and evaluation. `make bench` (benchmarks/run_all.py) writes it into
experiments/BENCHMARKS.md; alone it prints its section:

    python benchmarks/throughput.py [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import ftlab_command, machine, run_command

COMMON = [
    "task=intent",
    "model=minilm",
    "task.max_train_samples=2000",
    "task.max_eval_samples=64",
    "task.max_seq_length=64",
    "trainer.per_device_train_batch_size=16",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
    "trainer.logging_steps=10",
    "trainer.disable_tqdm=true",
]
SETUPS = {
    "1 process, accumulation 2": ["hardware=cpu", "trainer.gradient_accumulation_steps=2"],
    "2 processes (gloo), accumulation 1": [
        "hardware=ddp",
        "hardware.num_processes=2",
        "trainer.gradient_accumulation_steps=1",
    ],
}


def run(
    overrides: list[str], steps: int, output_root: Path, model: str | None = None
) -> dict[str, float]:
    """One `python -m ftlab.run`; its train samples/s and wall seconds."""
    args = [*COMMON, *overrides, f"trainer.max_steps={steps}"]
    if model:
        args.append(f"model.name_or_path={model}")
    args.append(f"output_root={output_root}")
    wall = run_command(ftlab_command(*args))["wall"]
    from ftlab.records import read_json

    metrics_file = max(output_root.glob("runs/*/*/*/metrics.json"), key=os.path.getmtime)
    train = read_json(metrics_file)["train"]
    env = read_json(metrics_file.parent / "env.json")
    return {
        "samples_per_second": train["train_samples_per_second"],
        "train_runtime": train["train_runtime"],
        "train_loss": train["train_loss"],
        "wall": wall,
        "world_size": env["world_size"],
        "effective_batch": env["effective_train_batch_size"],
        "command": "python -m ftlab.run " + " ".join(args[:-1]),
    }


def section(results: dict[str, dict], steps: int) -> str:
    lines = [
        "## Training throughput on CPU: 1 process against 2 processes",
        "",
        f"Same work: MiniLM (all-MiniLM-L6-v2), TREC intent, max length 64, {steps} optimizer",
        "steps of 32 examples (16 per device), no evaluation during training. samples/s is the",
        "Trainer's `train_samples_per_second` (training loop only); wall is the whole command",
        "(process start, data, the final evaluation, saving; the first run also fills the",
        "tokenization cache that the second one reads).",
        "",
        "| setup | world size | effective batch | samples/s | train s | wall s | train loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['world_size']} | {r['effective_batch']} | "
            f"{r['samples_per_second']:.1f} | {r['train_runtime']:.1f} | {r['wall']:.0f} | "
            f"{r['train_loss']:.4f} |"
        )
    lines += ["", "Commands:", "", "```"]
    lines += [r["command"] for r in results.values()]
    lines += [
        "```",
        "",
        "Each of the 2 ranks runs with OMP_NUM_THREADS=1 (Accelerate's default for a",
        "multi-process launch), the single process with torch's default threads (one per",
        "core), so both use every core. On CPU, data parallelism only splits the same cores",
        "between processes and adds a gloo all-reduce per step; the 2-process setup exists to",
        "test the multi-process path, not to speed up CPU training.",
        "",
        "bf16 single-GPU and multi-GPU throughput: not measured yet (needs a GPU machine).",
        "",
    ]
    return "\n".join(lines)


def measure(steps: int, work: Path, model: str | None = None) -> dict[str, dict]:
    results = {}
    for index, (name, overrides) in enumerate(SETUPS.items()):
        results[name] = run(overrides, steps, work / f"throughput-{index}", model)
        print(f"{name}: {results[name]['samples_per_second']:.1f} samples/s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    options = parser.parse_args()
    print(f"Machine: {machine()}.")
    with tempfile.TemporaryDirectory(prefix="ftlab-bench-") as tmp:
        print(section(measure(options.steps, Path(tmp)), options.steps))


if __name__ == "__main__":
    main()
