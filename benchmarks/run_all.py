"""`make bench`: every benchmark, written to experiments/BENCHMARKS.md.

    python benchmarks/run_all.py                     # the real figures (MiniLM, ~2 h on 2 cores)
    python benchmarks/run_all.py --quick --model DIR --out /tmp/B.md   # tiny sizes, end to end

Sections: framework overhead and start-up (overhead.py), dynamic padding (padding.py),
tokenization cache (cache.py), inference (inference.py), 1 against 2 processes
(throughput.py), the prediction service under load against a naive server (serve_load.py;
not in quick mode: Ray Serve takes a minute to start on 2 cores), time to quality on whole
jobs (time_to_quality.py; quick mode: the sentiment job only). Each figure comes with the
machine line and its command.
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
import serve_load
import throughput
import time_to_quality
from common import MINILM, ROOT, load, machine

from ftlab.config.paths import resolve_path


def _header(host: str, quick: bool, seconds: float, done: bool) -> list[str]:
    under_load = max(float(host.rsplit("load average: ", 1)[1].split()[0]), os.getloadavg()[0])
    return [
        "# Benchmarks",
        "",
        f"Machine: {host} (at the start).",
        "",
        "Written by `make bench` (`python benchmarks/run_all.py`"
        + (" --quick" if quick else "")
        + f"), {seconds:.0f} s {'in all' if done else 'so far (still running)'}; load average "
        f"at the end: {load()}. Comparisons are paired and interleaved (A, B, A, B ...), so a "
        "change in the load of a shared machine hits both sides alike; the load average is "
        "recorded with them. "
        + (
            "**Measured under load** (a load average above the core count: other jobs shared "
            "the cores), so absolute figures are lower than on an idle machine; the ratios "
            "are what to read."
            if under_load > (os.cpu_count() or 1)
            else ""
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument("--model", default=MINILM, help="model directory (default: MiniLM)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/BENCHMARKS.md")
    parser.add_argument("--repetitions", type=int, default=None)
    options = parser.parse_args()
    model = resolve_path(options.model)
    quick = options.quick
    repetitions = options.repetitions or (1 if quick else 3)
    started, host = time.time(), machine()
    sections: list[str] = []
    ratios: list[str] = []
    options.out.parent.mkdir(parents=True, exist_ok=True)

    def record(section: str, key_ratios: list[str], done: bool = False) -> None:
        """Each finished benchmark goes into the file at once: a long run that is stopped
        keeps what it measured."""
        sections.append(section)
        ratios.extend(key_ratios)
        closing = ["## Closing note: the key ratios", "", *(f"- {r}" for r in ratios), ""]
        text = _header(host, quick, time.time() - started, done) + sections + ["\n".join(closing)]
        options.out.write_text("\n".join(text), encoding="utf-8")

    def step(name: str) -> None:
        print(f"[{time.time() - started:5.0f}s] {name}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="ftlab-bench-") as tmp:
        work = Path(tmp)
        step("overhead and start-up")
        costs = overhead.measure(
            model, work, 4 if quick else 30, repetitions, 64 if quick else 1000, not quick
        )
        record(overhead.section(costs), overhead.key_ratios(costs))
        step("inference")
        speeds = inference.measure(costs["ftlab_run_dir"], work, 10 if quick else 50)
        record(inference.section(speeds), inference.key_ratios(speeds))
        if not quick:
            step("serving under load")
            serving = serve_load.measure(Path(costs["ftlab_run_dir"]), work, 8)
            record(serve_load.section(serving, 8), serve_load.key_ratios(serving))
        step("dynamic padding")
        pads = padding.measure(model, 64 if quick else 2000, 1 if quick else 2, quick)
        record(padding.section(pads), padding.key_ratios(pads))
        step("tokenization cache")
        caching = cache.measure(model, work, 64 if quick else None, 1 if quick else 2)
        record(cache.section(caching), cache.key_ratios(caching))
        step("1 against 2 processes")
        steps = 2 if quick else 10
        processes = throughput.measure(steps, work, model)
        record(throughput.section(processes, steps), [])
        step("time to quality")
        jobs = ["sentiment"] if quick else list(time_to_quality.JOBS)
        quality = time_to_quality.measure(model, work, jobs, 1, quick)
        record(time_to_quality.section(quality), time_to_quality.key_ratios(quality), done=True)
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
