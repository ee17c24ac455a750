"""The tokenization cache: the data stage (load + tokenize, as train.py logs it) of a first
run with an empty cache against a second, identical run that reads the cache."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from common import ftlab_command, median, run_command, shown

DATA_READY = re.compile(r"data ready in ([\d.]+)s")


def job(model: str, samples: int | None, output_root: Path) -> list[str]:
    return ftlab_command(
        "task=ner",
        "hardware=cpu",
        f"model.name_or_path={model}",
        *([f"task.max_train_samples={samples}"] if samples else []),
        "task.max_eval_samples=32",
        "trainer.max_steps=1",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
        "trainer.disable_tqdm=true",
        f"output_root={output_root}",
    )


def measure(model: str, work: Path, samples: int | None, repetitions: int) -> dict[str, Any]:
    """`repetitions` times: an empty cache folder, then two identical runs."""
    runs: dict[str, list[float]] = {"first run (empty cache)": [], "second run (cached)": []}
    for repetition in range(repetitions):
        cache = work / f"cache-{repetition}"
        for index, name in enumerate(runs):
            root = work / f"cache-run-{repetition}-{index}"
            run_command(job(model, samples, root), env={"FTLAB_CACHE": str(cache)})
            (log_file,) = root.glob("runs/*/*/*/run.log")
            runs[name].append(float(DATA_READY.findall(log_file.read_text())[-1]))
    return {
        "runs": runs,
        "samples": samples,
        "command": shown(job("MODEL", samples, Path("OUT"))),
    }


def section(m: dict[str, Any]) -> str:
    first, second = (median(v) for v in m["runs"].values())
    data = f"{m['samples']} training sentences" if m["samples"] else "the full training set"
    lines = [
        "## Tokenization cache",
        "",
        f"CoNLL-2003 NER ({data}, 32 validation and test sentences), MiniLM tokenizer: the data "
        "stage (read the CoNLL files, check, tokenize; `data ready in ...` in run.log) of a "
        "run with an empty `FTLAB_CACHE` and of the same run again.",
        "",
        "| run | data stage s (each repetition) | median |",
        "|---|---|---|",
    ]
    for name, values in m["runs"].items():
        each = ", ".join(f"{v:.2f}" for v in values)
        lines.append(f"| {name} | {each} | {median(values):.2f} |")
    lines += [
        "",
        f"**Second run / first run: {second / first:.2f}** (what is left is reading the raw "
        "CoNLL files and checking them).",
        "",
        f"Command (twice, same `FTLAB_CACHE`): `{m['command']}`",
        "",
    ]
    return "\n".join(lines)


def key_ratios(m: dict[str, Any]) -> list[str]:
    first, second = (median(v) for v in m["runs"].values())
    return [
        f"tokenization cache: the data stage takes {second / first:.2f}x as long on the second run"
    ]
