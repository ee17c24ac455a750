"""Optuna searches: the median pruner against none, and two workers sharing one study.

One real search (task=intent, the offline MiniLM, 160 training / 80 validation questions,
batch 16, an evaluation every 5 steps: 10 steps an epoch): learning rate x epochs x
warm-up, 12 trials, TPE seeded alike. Three searches, one after another:

1. pruner=none, one worker (12 trials);
2. pruner=median, one worker (12 trials): the same first trials as (1) (the sampler's
   seed), later ones as TPE follows what it saw;
3. pruner=none, two `python -m ftlab.run -m` processes at once sharing one SQLite study
   (6 trials each; each process on one core, OMP_NUM_THREADS=1), against (1) for trials
   per hour, and checked for distinct trial numbers and settings.

For each: wall time, the time until the best trial finished (from each job's status.json),
the best validation accuracy, trials pruned. Writes its section into
experiments/BENCHMARKS.md (between markers; `make bench` leaves it out).

    python benchmarks/sweep_pruning.py [--trials 12] [--records FOLDER]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import MINILM, ROOT, ftlab_command, machine, shown
from omegaconf import OmegaConf

from ftlab.job.sweep import sweep_jobs
from ftlab.records import read_json

SEARCH = [
    "task=intent",
    "model=minilm",
    f"model.name_or_path={MINILM}",
    "hardware=cpu",
    "task.max_train_samples=160",
    "task.max_eval_samples=80",
    "task.max_seq_length=32",
    "trainer.per_device_train_batch_size=16",
    "trainer.eval_strategy=steps",
    "trainer.eval_steps=5",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
    "trainer.disable_tqdm=true",
    "trainer.logging_steps=10",
    "hparams_search=optuna",
    "~hydra.sweeper.params",  # the preset's space, replaced by the one below
    "optimizer.learning_rate=tag(log, interval(1e-5, 3e-4))",
    "trainer.num_train_epochs=choice(1, 2, 3)",
    "scheduler.warmup_steps=interval(0.0, 0.2)",
]
SEARCHED = ("optimizer.learning_rate", "trainer.num_train_epochs", "scheduler.warmup_steps")
MARK_START, MARK_END = "<!-- sweep_pruning: start -->", "<!-- sweep_pruning: end -->"


def search(sweep: Path, *overrides: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    args = ftlab_command("-m", *SEARCH, f"hydra.sweep.dir={sweep}", *overrides)
    print(f"$ {shown(args)}", file=sys.stderr, flush=True)
    return subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(process: subprocess.Popen) -> None:
    out, _ = process.communicate()
    if process.returncode != 0:
        sys.exit(f"search failed ({process.returncode}):\n{out[-3000:]}")


def steps_trained(job_dir: Path) -> int:
    """The optimizer steps a job took (its training log's last step): the work a pruner
    saves, whatever the machine's load did to the wall time."""
    return max((r.get("step", 0) for r in read_json(job_dir / "train_log.json")), default=0)


def searched_values(job_dir: Path) -> tuple:
    """The job's values of the searched keys, from its resolved config."""
    config = OmegaConf.load(job_dir / "config.yaml")
    return tuple(OmegaConf.select(config, key) for key in SEARCHED)


def outcome(sweeps: list[Path]) -> dict[str, Any]:
    """What the search's job records say, over one or more sweep directories. Its time runs
    from the first job's start to the last job's end (each job's status.json), so it leaves
    out the sweep process's own start-up, alike for every search."""
    # a job still running (tabulating a search that goes on) is not counted yet
    ended = ("completed", "pruned", "failed")
    jobs = [job for sweep in sweeps for job in sweep_jobs(sweep) if job.status in ended]
    status = {job.run_dir: read_json(Path(job.run_dir) / "status.json") for job in jobs}
    started = min(record["started"] for record in status.values())
    ended = max(record["updated"] for record in status.values())
    completed = [j for j in jobs if j.status == "completed" and j.value is not None]
    best = max(completed, key=lambda j: j.value)
    settings = {searched_values(Path(j.run_dir)) for j in jobs}
    return {
        "trials": len(jobs),
        "pruned": sum(j.status == "pruned" for j in jobs),
        "steps": sum(steps_trained(Path(j.run_dir)) for j in jobs),
        "wall": ended - started,
        "to_best": status[best.run_dir]["updated"] - started,
        "best": best.value,
        "best_trial": best.trial,
        "distinct_numbers": len({j.trial for j in jobs}) == len(jobs),
        "distinct_settings": len(settings),
        "per_hour": len(jobs) / (ended - started) * 3600,
        "by_trial": {
            j.trial: {
                "settings": searched_values(Path(j.run_dir)),
                "steps": steps_trained(Path(j.run_dir)),
                "status": j.status,
                "value": j.value,
            }
            for j in jobs
        },
    }


SEARCHES = {  # the table's rows: their sweep directories under the work folder
    "pruner=none": ["none"],
    "pruner=median": ["median"],
    "2 workers, one study, pruner=none": ["a", "b"],
}


def measure(trials: int, work: Path) -> None:
    """Run the three searches into `work`."""
    for pruner in ("none", "median"):
        finish(
            search(
                work / pruner, f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.pruner={pruner}"
            )
        )
    shared = [
        f"hydra.sweeper.storage=sqlite:///{work / 'shared.db'}",
        "hydra.sweeper.study_name=shared",
        f"hydra.sweeper.n_trials={trials // 2}",
        "hydra.sweeper.pruner=none",
    ]
    workers = [search(work / name, *shared, env={"OMP_NUM_THREADS": "1"}) for name in ("a", "b")]
    for worker in workers:
        finish(worker)


def results(work: Path) -> dict[str, dict[str, Any]]:
    """Each search's row, from the job records under `work` (the searches that ran)."""
    return {
        name: outcome([work / sweep for sweep in sweeps])
        for name, sweeps in SEARCHES.items()
        if all((work / sweep).is_dir() for sweep in sweeps)
    }


def section(results: dict[str, dict[str, Any]], trials: int) -> str:
    lines = [
        MARK_START,
        "## Optuna search: median pruning, and two workers on one study (issue 41)",
        "",
        f"Machine: {machine()}.",
        "",
        f"`python benchmarks/sweep_pruning.py --trials {trials}`: task=intent, MiniLM, 160 "
        "training / 80 validation questions (max length 32, batch 16), an evaluation every 5 "
        "steps; TPE (seed 1234) over learning rate (log 1e-5..3e-4) x epochs (1, 2, 3) x "
        "warm-up (0..0.2). Times from the first job's start to each job's end (status.json); "
        "steps trained: the optimizer steps of all its trials, which the machine's load does "
        "not change. The searches run one after another, so on a shared machine their wall "
        "times compare only if its load stayed the same (the load average above is the one "
        "at the end).",
        "",
        "| search | trials | pruned | steps trained | wall (s) | until the best trial ended (s) "
        "| best validation accuracy (trial) | trials / hour | distinct trial numbers / settings |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['trials']} | {r['pruned']} | {r['steps']} | {r['wall']:.0f} | "
            f"{r['to_best']:.0f} | "
            f"{r['best']:.4f} ({r['best_trial']}) | {r['per_hour']:.0f} | "
            f"{'yes' if r['distinct_numbers'] else 'NO'} / "
            f"{r['distinct_settings']} of {r['trials']} |"
        )
    none, median = results.get("pruner=none"), results.get("pruner=median")
    two = results.get("2 workers, one study, pruner=none")
    lines.append("")
    if none and median:
        lines.append(
            f"Median pruning: {median['steps'] / none['steps']:.2f}x the training steps and "
            f"{median['wall'] / none['wall']:.2f}x the wall time of no pruning, best accuracy "
            f"{median['best']:.4f} against {none['best']:.4f}."
        )
    if none and median:
        lines += ["", *trial_by_trial(none["by_trial"], median["by_trial"])]
    if none and two:
        lines.append("")
        lines.append(
            f"Two workers sharing one study: {two['per_hour'] / none['per_hour']:.2f}x the "
            "trials per hour of one."
        )
    lines.append(MARK_END)
    return "\n".join(lines)


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def trial_by_trial(none: dict[int, dict], median: dict[int, dict]) -> list[str]:
    """The trials both searches ran, side by side: TPE's first 10 trials are its seeded
    random start-up, so trial k has the same settings in both (checked, not assumed)."""
    lines = [
        "| trial | learning rate, epochs, warm-up | same settings | none: steps, accuracy "
        "| median: steps, status, accuracy |",
        "|---:|---|---|---|---|",
    ]
    for number in sorted(set(none) & set(median)):
        a, b = none[number], median[number]
        rate, epochs, warmup = b["settings"]
        lines.append(
            f"| {number} | {rate:.2e}, {epochs}, {warmup:.3f} | "
            f"{'yes' if a['settings'] == b['settings'] else 'no'} | {a['steps']}, "
            f"{_shown(a['value'])} | {b['steps']}, {b['status']}, {_shown(b['value'])} |"
        )
    return lines


def write(text: str, path: Path) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), re.DOTALL)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else f"{old.rstrip()}\n\n{text}\n"
    path.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/BENCHMARKS.md")
    parser.add_argument(
        "--records", type=Path, help="tabulate the searches already run into this folder"
    )
    options = parser.parse_args()
    if options.records:
        found = results(options.records)
    else:
        with tempfile.TemporaryDirectory(prefix="ftlab-sweeps-") as tmp:
            measure(options.trials, Path(tmp))
            found = results(Path(tmp))
    text = section(found, options.trials)
    print(text)
    write(text, options.out)


if __name__ == "__main__":
    main()
