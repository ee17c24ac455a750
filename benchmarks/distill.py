"""Knowledge distillation: a MiniLM teacher (6 layers) distilled into a 2-layer student
(the same checkpoint, `model.config.num_hidden_layers=2`: its lowest two layers), against
the same student trained on the labels alone, and the CPU inference speed of each (issue 22).

Offline TREC intent questions (6 classes, 4,305 / 538 / 538), `experiment=intent_minilm`
(3 epochs, lr 1e-4, batch 32, max length 64) for every run. The students go seed by seed
(labels alone, then distilled, for each seed), every run a real `python -m ftlab.run` in
its own process; a finished run is not run again. Inference speed: `python -m
ftlab.export` of the teacher and of one student, PyTorch on one CPU thread (samples/s on
the test questions in batches of 32, single-question p50 latency).

    python benchmarks/distill.py [--seeds 1 2 3] [--alpha 0.5] [--temperature 2] \\
        [--out experiments/distill-compare]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from common import ROOT, ftlab_command, machine, run_command

from ftlab.records import read_json

COMMON = [
    "experiment=intent_minilm",
    "hardware=cpu",
    "trainer.disable_tqdm=true",
    "trainer.save_total_limit=1",
]


def _run(run_dir: Path, *overrides: str) -> dict[str, Any]:
    """A finished run's test/validation accuracy and train time (run if not done yet)."""
    status = run_dir / "status.json"
    if not (status.is_file() and read_json(status)["status"] == "completed"):
        run_command(ftlab_command(*COMMON, *overrides, f"hydra.run.dir={run_dir}"))
    metrics = read_json(run_dir / "metrics.json")
    return {
        "test": metrics["test"]["test_accuracy"],
        "validation": metrics["validation"]["eval_accuracy"],
        "train_seconds": metrics["train"]["train_runtime"],
        "parameters": read_json(run_dir / "params.json")["total_parameters"],
    }


def _speed(run_dir: Path, out: Path) -> dict[str, float]:
    run_command(
        [
            sys.executable,
            "-m",
            "ftlab.export",
            f"run={run_dir}",
            f"output={out}",
            "latency_runs=100",
            "check_samples=32",
            "threads=1",
        ]
    )
    return read_json(out / "export.json")["models"]["pytorch"]


def _mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/distill-compare")
    options = parser.parse_args()
    out = options.out.resolve()
    print(f"Machine: {machine()}", flush=True)

    teacher_dir = out / "teacher"
    teacher = _run(teacher_dir, "trainer.seed=1")
    student = [f"model.config.num_hidden_layers={options.layers}"]
    distill = [
        f"distill.teacher={teacher_dir}",
        f"distill.alpha={options.alpha}",
        f"distill.temperature={options.temperature}",
    ]
    rows: dict[str, list[dict[str, Any]]] = {"labels alone": [], "distilled": []}
    for seed in options.seeds:
        rows["labels alone"].append(_run(out / f"alone-{seed}", *student, f"trainer.seed={seed}"))
        rows["distilled"].append(
            _run(out / f"distilled-{seed}", *student, *distill, f"trainer.seed={seed}")
        )
    speeds = {
        "teacher": _speed(teacher_dir, out / "export-teacher"),
        "student": _speed(out / f"alone-{options.seeds[0]}", out / "export-student"),
    }
    print(
        "\n| model | layers | parameters | seeds | validation accuracy | test accuracy "
        "| train s | CPU samples/s (1 thread) | p50 ms |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    t, ts = teacher, speeds["teacher"]
    print(
        f"| teacher (MiniLM) | 6 | {t['parameters']:,} | 1 | {t['validation']:.4f} "
        f"| {t['test']:.4f} | {t['train_seconds']:.0f} | {ts['samples_per_second']:.0f} "
        f"| {ts['p50_ms']:.2f} |"
    )
    ss = speeds["student"]
    for name, runs in rows.items():
        print(
            f"| student, {name} | {options.layers} | {runs[0]['parameters']:,} | {len(runs)} "
            f"| {_mean_std([r['validation'] for r in runs])} "
            f"| {_mean_std([r['test'] for r in runs])} "
            f"| {statistics.mean(r['train_seconds'] for r in runs):.0f} "
            f"| {ss['samples_per_second']:.0f} | {ss['p50_ms']:.2f} |"
        )
    for name, runs in rows.items():
        print(f"{name}, test per seed: " + " / ".join(f"{r['test']:.4f}" for r in runs))
    speed_up = ss["samples_per_second"] / ts["samples_per_second"]
    print(f"student / teacher CPU samples/s: {speed_up:.2f}x")


if __name__ == "__main__":
    main()
