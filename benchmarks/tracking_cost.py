"""What a tracker costs a run: the overhead benchmark's 30-step MiniLM job with `logger=none`
against `logger=mlflow` (a local SQLite store: params, per-step metrics, artifacts) and
`logger=tensorboard`, paired and interleaved, wall time of the whole `python -m ftlab.run`.

    python benchmarks/tracking_cost.py [--repetitions 3] [--steps 30]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import MINILM, machine, median, paired, run_command, shown, spread
from overhead import ftlab_job, write_trec_csv

LOGGERS = ("none", "mlflow", "tensorboard")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--model", default=MINILM)
    options = parser.parse_args()
    print(f"Machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        data = write_trec_csv(root / "data", 480, 100)

        def job(logger: str):
            def setup() -> dict:
                args = ftlab_job(options.model, data, options.steps, root / f"out-{logger}")
                return run_command([*args, f"logger={logger}"])

            return setup

        results = paired({name: job(name) for name in LOGGERS}, options.repetitions)
        base = median([r["wall"] for r in results["none"]])
        print(
            f"\nCommand: `{shown(ftlab_job('MINILM', Path('DATA'), options.steps, Path('OUT')))}"
            " logger=...`\n"
        )
        print(
            "| logger | wall s, median (min-max) | extra s per run | ratio |\n|---|---:|---:|---:|"
        )
        for name in LOGGERS:
            walls = [r["wall"] for r in results[name]]
            print(
                f"| {name} | {spread(walls)} | {median(walls) - base:+.1f} "
                f"| {median(walls) / base:.2f}x |"
            )
        loads = [r["load"] for rows in results.values() for r in rows]
        print(f"\nload average during the runs: {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
