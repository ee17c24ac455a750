"""`make bench`: every benchmark, written to experiments/BENCHMARKS.md.

    python benchmarks/run_all.py                     # the real figures (MiniLM, ~30 min on 2 cores)
    python benchmarks/run_all.py --quick --model DIR --out /tmp/B.md   # tiny sizes, end to end

Sections: framework overhead and start-up (overhead.py), dynamic padding (padding.py),
tokenization cache (cache.py), inference (inference.py), 1 against 2 processes
(throughput.py). Each figure comes with the machine line and its command.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cache
import inference
import overhead
import padding
import throughput
from common import MINILM, ROOT, load, machine

from ftlab.paths import resolve_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument("--model", default=MINILM, help="model directory (default: MiniLM)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/BENCHMARKS.md")
    parser.add_argument("--repetitions", type=int, default=None)
    options = parser.parse_args()
    model = resolve_path(options.model)
    quick = options.quick
    repetitions = options.repetitions or (1 if quick else 4)
    started, host = time.time(), machine()
    with tempfile.TemporaryDirectory(prefix="ftlab-bench-") as tmp:
        work = Path(tmp)

        def step(name: str) -> None:
            print(f"[{time.time() - started:5.0f}s] {name}", file=sys.stderr, flush=True)

        step("overhead and start-up")
        costs = overhead.measure(
            model, work, 4 if quick else 30, repetitions, 64 if quick else 1000, not quick
        )
        step("dynamic padding")
        pads = padding.measure(model, 64 if quick else 2000, 1 if quick else 2, quick)
        step("tokenization cache")
        caching = cache.measure(model, work, 64 if quick else None, 1 if quick else 2)
        step("inference")
        speeds = inference.measure(costs["ftlab_run_dir"], work, 10 if quick else 100)
        step("1 against 2 processes")
        steps = 2 if quick else 20
        processes = throughput.measure(steps, work, model)
    sections = [
        overhead.section(costs),
        padding.section(pads),
        cache.section(caching),
        inference.section(speeds),
        throughput.section(processes, steps),
    ]
    ratios = [
        *overhead.key_ratios(costs),
        *padding.key_ratios(pads),
        *cache.key_ratios(caching),
        *inference.key_ratios(speeds),
    ]
    sections.append(
        "\n".join(["## Closing note: the key ratios", "", *(f"- {r}" for r in ratios), ""])
    )
    header = [
        "# Benchmarks",
        "",
        f"Machine: {host} (at the start).",
        "",
        "Written by `make bench` (`python benchmarks/run_all.py`"
        + (" --quick" if quick else "")
        + f"), {time.time() - started:.0f} s in all; load average at the end: {load()}. "
        "Comparisons are paired and interleaved (A, B, A, B ...), so a change in the load "
        "of a shared machine hits both sides alike; the load average is recorded with them. "
        + (
            "**Measured under load** (a load average above the core count: other jobs shared "
            "the cores), so absolute figures are lower than on an idle machine; the ratios "
            "are what to read."
            if os.getloadavg()[0] > (os.cpu_count() or 1)
            else ""
        ),
        "",
    ]
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text("\n".join(header + sections), encoding="utf-8")
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
