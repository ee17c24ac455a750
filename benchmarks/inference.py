"""Inference on CPU: PyTorch, ONNX and int8 ONNX of a trained run, through
`python -m ftlab.export ... quantize=int8` (which checks them against PyTorch and times them)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from common import run_command

from ftlab.records import read_json


def command(run_dir: str, output: Path, latency_runs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ftlab.export",
        f"run={run_dir}",
        "format=onnx",
        "quantize=int8",
        f"output={output}",
        f"latency_runs={latency_runs}",
        "check_samples=200",
        # one thread for both: on a shared machine, OpenMP's spin-waiting across busy cores
        # made PyTorch's 2-thread latency 100x worse (measured), which says nothing about it
        "threads=1",
    ]


def measure(run_dir: str, work: Path, latency_runs: int) -> dict[str, Any]:
    run_command(command(run_dir, work / "onnx", latency_runs))
    return {
        "report": read_json(work / "onnx/export.json"),
        "command": " ".join(command("RUN_DIR", Path("OUT"), latency_runs)[2:]),
        "latency_runs": latency_runs,
    }


def section(m: dict[str, Any]) -> str:
    models = m["report"]["models"]
    base = models["pytorch"]
    lines = [
        "## Inference on CPU: PyTorch, ONNX, int8",
        "",
        "The MiniLM intent model of the overhead benchmark's last ftlab run, exported by "
        "`python -m ftlab.export` (ONNX through torch.onnx, int8 through onnxruntime's dynamic "
        f"quantization), one CPU thread each. Latency: one question at a time, "
        f"{m['latency_runs']} runs after 5 "
        "warm-up runs; samples/s: the test questions in batches of 32. Agreement with PyTorch "
        f"on {m['report']['check_examples']} test questions.",
        "",
        "| model | size MB | p50 ms | p95 ms | samples/s | speed-up | max abs logit diff "
        "| same label |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in models.items():
        diff = f"{r['max_abs_logit_diff']:.1e}" if "max_abs_logit_diff" in r else "-"
        same = f"{r['label_agreement']:.3f}" if "label_agreement" in r else "-"
        lines.append(
            f"| {name} | {r['size_mb']:.1f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
            f"| {r['samples_per_second']:.0f} "
            f"| {r['samples_per_second'] / base['samples_per_second']:.2f}x | {diff} | {same} |"
        )
    lines += ["", f"Command: `python -m {m['command']}`", ""]
    return "\n".join(lines)


def key_ratios(m: dict[str, Any]) -> list[str]:
    models = m["report"]["models"]
    base = models["pytorch"]
    lines = []
    for name, r in models.items():
        if name == "pytorch":
            continue
        speed = r["samples_per_second"] / base["samples_per_second"]
        latency, size = r["p50_ms"] / base["p50_ms"], r["size_mb"] / base["size_mb"]
        lines.append(
            f"CPU inference, {name} against PyTorch: {speed:.2f}x the samples/s, "
            f"p50 latency {latency:.2f}x, size {size:.2f}x"
        )
    return lines
