"""Time to quality: `python -m ftlab.run` against benchmarks/plain_trainer.py on whole jobs.

Jobs: full Rotten Tomatoes (experiment=sentiment_full: accuracy) and full CoNLL-2003
(experiment=ner_minilm: entity F1), MiniLM, CPU, 1 epoch, the presets' hyper-parameters
given to the plain script too (max length 128, batch 32, learning rate, linear schedule with
10% warm-up, AdamW, weight decay 0.01, seed 42). Three setups, interleaved per repetition:
the plain script; ftlab with the plain script's random batches
(`trainer.train_sampling_strategy=random`); ftlab with length-grouped batches in a random
order (`group_by_length`, in the preset's group size: `ner_minilm` sorts 2 batches together
and weighs every labelled token alike); quick mode runs the plain script and the batching
ftlab ships.
Each run's wall time is split into phases (ftlab's timings.json, the plain script's own
clock), and for ftlab the time until its evaluation log first reached the plain script's
validation metric (timings.json records when each evaluation ended).

    python benchmarks/time_to_quality.py [--jobs sentiment ner] [--repetitions 1]
        [--batching random group_by_length]
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    MINILM,
    ftlab_command,
    machine,
    median,
    paired,
    plain_trainer_command,
    run_command,
    shown,
)

from ftlab.config.paths import resolve_path
from ftlab.records import read_json

# each ftlab setup names its batching, so the table reads the same whichever one ships
BATCHING = {
    "ftlab, random batches": "random",  # the plain script's
    "ftlab, length-grouped batches": "group_by_length",
}


def shipped_batching(experiment: str) -> str:
    """The `trainer.train_sampling_strategy` the experiment preset ships."""
    from ftlab.config.compose import compose_config

    return str(compose_config([f"experiment={experiment}"]).trainer.train_sampling_strategy)


def batching_setups(quick: bool, shipped: str, only: list[str] | None = None) -> dict[str, str]:
    """The ftlab setups to run, each with its override (quick mode: what ftlab ships;
    `only`: these batchings)."""
    return {
        setup: f"trainer.train_sampling_strategy={strategy}"
        for setup, strategy in BATCHING.items()
        if (not quick or strategy == shipped) and (only is None or strategy in only)
    }


PHASES = ("startup", "data", "model", "training", "evaluation", "checkpoints", "scoring", "saving")


@dataclass(frozen=True)
class Job:
    experiment: str
    metric: str  # the Trainer's name for the validation metric compared
    plain_task: str
    learning_rate: float
    quick_sizes: tuple[int, int]  # training / evaluation examples in quick mode


JOBS = {
    "sentiment": Job("sentiment_full", "accuracy", "classification", 5e-5, (160, 40)),
    "ner": Job("ner_minilm", "f1", "ner", 1e-4, (120, 30)),
}


def write_data(name: str, job: Job, directory: Path, quick: bool) -> tuple[Path, list[str]]:
    """The job's splits as ftlab cuts them, in files both sides read, and ftlab's overrides
    for them; full NER reads the CoNLL files ftlab's builtin set is (train/valid/test.txt)."""
    from ftlab.config.compose import compose_config
    from ftlab.config.targets import build_task
    from ftlab.data.builtin import CONLL2003
    from ftlab.data.conll import first_sentences

    directory.mkdir(parents=True, exist_ok=True)
    train, held_out = job.quick_sizes
    if name == "ner":
        source = Path(resolve_path(CONLL2003))
        if not quick:
            return source, []
        files = {"train": "train", "validation": "valid", "test": "test"}
        for split, file in files.items():
            count = train if split == "train" else held_out
            text = first_sentences(source / f"{file}.txt", count)
            (directory / f"{file}.txt").write_text(text, encoding="utf-8")
        return directory, [
            "task.builtin_dataset=null",
            *(f"task.{split}_file={directory / file}.txt" for split, file in files.items()),
        ]
    splits = build_task(compose_config([f"experiment={job.experiment}"]).task).prepare()
    overrides = ["task.builtin_dataset=null"]
    for split, data in splits.items():
        rows = data.to_pandas()[["text", "label"]]
        if quick:
            rows = rows.head(train if split == "train" else held_out)
        rows.to_csv(directory / f"{split}.csv", index=False)
        overrides.append(f"task.{split}_file={directory / split}.csv")
    return directory, overrides


def ftlab_job(job: Job, model: str, data: list[str], root: Path, *extra: str) -> list[str]:
    return ftlab_command(
        f"experiment={job.experiment}",
        "hardware=cpu",
        f"model.name_or_path={model}",
        *data,
        "trainer.disable_tqdm=true",
        f"output_root={root}",
        *extra,
    )


def plain_job(job: Job, model: str, data: Path, output: Path) -> list[str]:
    return plain_trainer_command(
        model,
        data,
        output,
        f"--task={job.plain_task}",
        "--epochs=1",
        "--max-length=128",
        "--batch-size=32",
        f"--learning-rate={job.learning_rate}",
    )


def measure(
    model: str,
    work: Path,
    jobs: list[str],
    repetitions: int,
    quick: bool,
    batching: list[str] | None = None,
) -> dict[str, Any]:
    """`batching`: the ftlab setups to run (None: both)."""
    results: dict[str, Any] = {}
    counter = {"n": 0}
    for name in jobs:
        job = JOBS[name]
        data, overrides = write_data(name, job, work / f"data-{name}", quick)

        def ftlab_run(*extra: str, job: Job = job, overrides: list[str] = overrides) -> dict:
            counter["n"] += 1
            root = work / f"ftlab-{counter['n']}"
            wall = run_command(ftlab_job(job, model, overrides, root, *extra))["wall"]
            (run_dir,) = (path.parent for path in root.glob("runs/*/*/*/metrics.json"))
            metrics, timings = (
                read_json(run_dir / "metrics.json"),
                read_json(run_dir / "timings.json"),
            )
            evaluations = [r for r in read_json(run_dir / "train_log.json") if "eval_runtime" in r]
            ended = {r["step"]: r["seconds"] for r in timings["evaluations"]}
            return {
                "wall": wall,
                "seconds": timings["seconds"],
                "dev": metrics["validation"][f"eval_{job.metric}"],
                "test": metrics["test"][f"test_{job.metric}"],
                "curve": [(ended[r["step"]], r[f"eval_{job.metric}"]) for r in evaluations],
            }

        def plain_run(job: Job = job, data: Path = data) -> dict:
            counter["n"] += 1
            result = run_command(plain_job(job, model, data, work / f"plain-{counter['n']}"))
            values = dict(re.findall(r"(\w+)=([\d.e-]+)", result["stdout"].split("RESULT", 1)[1]))
            return {
                "wall": result["wall"],
                "seconds": {
                    key.removeprefix("seconds_"): float(value)
                    for key, value in values.items()
                    if key.startswith("seconds_")
                },
                "dev": float(values[f"eval_{job.metric}"]),
                "test": float(values[f"test_{job.metric}"]),
            }

        ships = shipped_batching(job.experiment)
        chosen = batching_setups(quick, ships, batching)
        setups = {"plain Trainer script": plain_run} | {
            setup: lambda override=override, run=ftlab_run: run(override)
            for setup, override in chosen.items()
        }
        commands = [
            plain_job(job, "MODEL", data, Path("OUT")),
            *(ftlab_job(job, "MODEL", overrides, Path("OUT"), o) for o in chosen.values()),
        ]
        results[name] = {
            "runs": paired(setups, repetitions),
            "commands": [shown(c).replace(str(data), "DATA") for c in commands],
            "ships": ships,
        }
    return {"jobs": results, "repetitions": repetitions, "quick": quick}


def time_to(run: dict, target: float) -> float | None:
    """Seconds from the process start until an evaluation first reached `target`."""
    return next((seconds for seconds, value in run.get("curve", []) if value >= target), None)


def _named(setup: str, ships: str) -> str:
    """The setup's name, marked where it is the batching the job's preset ships."""
    return f"{setup} (shipped)" if BATCHING.get(setup) == ships else setup


def _rows(name: str, runs: dict[str, list[dict]], ships: str) -> tuple[list[str], list[str]]:
    plain = runs["plain Trainer script"]
    target, plain_wall = median([r["dev"] for r in plain]), median([r["wall"] for r in plain])
    table, ratios = [], []
    for setup, rows in runs.items():
        named, wall = _named(setup, ships), median([r["wall"] for r in rows])
        # each run against the plain run just before it: the spread shows the host's noise
        pairs = [r["wall"] / p["wall"] for p, r in zip(plain, rows, strict=True)]
        per_pair = "-" if rows is plain else ", ".join(f"{x:.3f}" for x in pairs)
        phases = " | ".join(
            f"{median([r['seconds'].get(p, 0.0) for r in rows]):.1f}" for p in PHASES
        )
        reached = [time_to(r, target) for r in rows]
        if setup == "plain Trainer script":
            to_quality = f"{plain_wall:.0f} s (its end)"
        elif None in reached:
            to_quality = "not reached"
        else:
            seconds = median([s for s in reached if s is not None])
            to_quality = f"{seconds:.0f} s ({seconds / plain_wall:.2f}x)"
            ratios.append(
                f"{name}, {named}: wall {wall / plain_wall:.3f}x the plain script's (each "
                f"interleaved pair: {per_pair}), its dev metric reached in "
                f"{seconds / plain_wall:.2f}x its wall time"
            )
        dev = ", ".join(f"{r['dev']:.4f}" for r in rows)
        test = ", ".join(f"{r['test']:.4f}" for r in rows)
        loads = ", ".join(f"{r['load']:.1f}" for r in rows)
        table.append(
            f"| {named} | {wall:.0f} ({wall / plain_wall:.3f}x) | {per_pair} | {phases} | {dev} "
            f"| {test} "
            f"| {to_quality} | {loads} |"
        )
    return table, ratios


def section(m: dict[str, Any]) -> str:
    lines = [
        "## Time to quality: ftlab against a plain Trainer script on whole jobs",
        "",
        "Full Rotten Tomatoes (`experiment=sentiment_full`) and full CoNLL-2003 "
        "(`experiment=ner_minilm`), MiniLM, CPU, 1 epoch; `benchmarks/plain_trainer.py` gets "
        "the presets' hyper-parameters (max length 128, batch 32, the learning rate, linear "
        "schedule with 10% warm-up, AdamW, weight decay 0.01, seed 42) and the same data "
        "files. Setups: the plain script; ftlab with the plain script's random batches "
        "(`trainer.train_sampling_strategy=random`); ftlab with length-grouped batches in a "
        "random order (`group_by_length`, in the preset's group size: `ner_minilm` sorts "
        "`trainer.length_group_batches=2` batches together, so most batches still mix short "
        "and long rows, and weighs every labelled token alike whatever its batch's length); "
        "the setup each preset ships is marked. Phases: ftlab's "
        "timings.json, the plain script's own clock (evaluation and checkpoints: inside "
        "training; scoring: the final validation and test passes). Plain's dev reached: "
        "when ftlab's evaluation log first reached the plain script's validation metric, "
        "from the process start, and as a share of the plain script's wall time. The plain "
        "script truncates NER sentences at 128 tokens (a few words unscored), ftlab windows "
        "them.",
        "",
        f"{m['repetitions']} interleaved repetition(s) (plain, ftlab, ftlab, ...); medians, "
        "and each ftlab run's wall time over the plain run of its repetition."
        + (" **Quick mode: tiny slices, figures mean nothing.**" if m["quick"] else ""),
        "",
    ]
    for name, result in m["jobs"].items():
        table, _ = _rows(name, result["runs"], result["ships"])
        lines += [
            f"### {name} ({JOBS[name].experiment}, validation {JOBS[name].metric})",
            "",
            "| setup | wall s (medians' ratio) | wall / plain's, each pair | "
            + " | ".join(PHASES)
            + " | dev | test | plain's dev reached | load |",
            "|---|---:|---|" + "---:|" * len(PHASES) + "---|---|---|---|",
            *table,
            "",
            "```",
            *result["commands"],
            "```",
            "",
        ]
    return "\n".join(lines)


def key_ratios(m: dict[str, Any]) -> list[str]:
    return [line for name, r in m["jobs"].items() for line in _rows(name, r["runs"], r["ships"])[1]]


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", nargs="+", choices=list(JOBS), default=list(JOBS))
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--model", default=MINILM)
    parser.add_argument(
        "--batching",
        nargs="+",
        choices=sorted(set(BATCHING.values())),
        help="only these ftlab setups (default: both); random alone is the same-settings pair",
    )
    parser.add_argument("--quick", action="store_true", help="tiny slices: checks it runs")
    options = parser.parse_args()
    print(f"Machine: {machine()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ftlab-ttq-") as tmp:
        result = measure(
            resolve_path(options.model),
            Path(tmp),
            options.jobs,
            options.repetitions,
            options.quick,
            options.batching,
        )
    print(section(result))
    print("\n".join(f"- {line}" for line in key_ratios(result)))


if __name__ == "__main__":
    main()
