"""`python -m ftlab.report [FOLDER]`: a leaderboard of the runs under a folder.

Reads every run directory (config.yaml, status.json, metrics.json, train_log.json),
groups completed runs by configuration, aggregates seeds as mean ± std, and writes a
markdown table (stdout and report.md), leaderboard.csv and report.html with plots. Failed and
unfinished runs are listed apart and never averaged in.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ftlab.errors import FtlabError
from ftlab.report import details
from ftlab.report.html import (
    class_scores,
    confusion_image,
    image_tag,
    learning_curves,
    page,
    sweep_plots,
)
from ftlab.report.leaderboard import formatted, leaderboard, markdown
from ftlab.report.runs import find_runs, runs_table

LEADERBOARD_CSV = "leaderboard.csv"
REPORT_HTML = "report.html"
REPORT_MD = "report.md"  # the markdown summary, beside the page (a CI artifact, a PR comment)
_RUN_COLUMNS = {
    "run",
    "task",
    "model",
    "config",
    "seed",
    "metric",
    "maximize",
    "validation",
    "test",
}


def build_report(root: Path, out_dir: Path) -> str:
    """Write leaderboard.csv and report.html into `out_dir`; return the markdown summary."""
    runs = find_runs(root)
    if not runs:
        raise FtlabError(
            f"no runs under {root}: give the folder that holds run directories "
            "(python -m ftlab.report experiments)"
        )
    completed = [run for run in runs if run.status == "completed"]
    problems = pd.DataFrame(
        [
            {
                "run": str(run.path),
                "status": run.status,
                "task": run.config.get("task.name"),
                "model": run.config.get("model.name"),
                "error": run.error or "",
            }
            for run in runs
            if run.status != "completed"
        ]
    )
    table = runs_table(completed)
    board = leaderboard(table) if len(table) else pd.DataFrame()
    shown = formatted(board) if len(board) else pd.DataFrame()

    out_dir.mkdir(parents=True, exist_ok=True)
    board.to_csv(out_dir / LEADERBOARD_CSV, index=False)
    images = {}
    if len(table):
        labels = {row.run: f"{row.config} seed={row.seed}".strip() for row in table.itertuples()}
        images.update(learning_curves(completed, labels))
        images.update(sweep_plots(table, [c for c in table.columns if c not in _RUN_COLUMNS]))
    sections = run_sections(completed, root, labels) if len(table) else []
    report = page(shown, problems, images, str(root), sections)
    (out_dir / REPORT_HTML).write_text(report, encoding="utf-8")

    lines = [markdown(shown) if len(shown) else "No completed runs."]
    if len(problems):
        lines.append(f"\n{len(problems)} run(s) not completed (not averaged in):")
        lines += [
            f"- {row.status}: {row.run} {row.error}".rstrip() for row in problems.itertuples()
        ]
    summary = "\n".join(lines)
    (out_dir / REPORT_MD).write_text(summary + "\n", encoding="utf-8")
    return summary


def run_sections(runs: list, root: Path, labels: dict[str, str] | None = None) -> list[str]:
    """Per task, its best run by validation (named by its folder and, from `labels`, what
    set it apart): per-class scores, the confusion matrix, its chunking and tuned thresholds
    where it used them, and the most confidently wrong test examples (where the run wrote
    what they need)."""
    import html

    sections = []
    for task, run in sorted(details.best_runs(runs).items()):
        name = details.run_label(run, root)
        what = (labels or {}).get(str(run.path), "")
        heading = f"Best run of {html.escape(task)}: <code>{html.escape(name)}</code>"
        parts = [f"<h2>{heading}{f' ({html.escape(what)})' if what else ''}</h2>"]
        scores = details.per_class(run)
        if scores is not None:
            title = f"{task}: test precision / recall / F1 per class"
            parts.append(image_tag(title, class_scores(scores, title)))
        matrix = details.confusion(run)
        if matrix is not None:
            title = f"{task}: test confusion matrix"
            parts.append(image_tag(title, confusion_image(*matrix, title)))
        for heading, frame in (
            ("Example replies to test conversations", details.generations(run)),
            ("Chunks (long_document=chunks)", details.chunking(run)),
            ("Thresholds chosen on validation (threshold=tune)", details.thresholds(run)),
        ):
            if frame is not None:
                parts += [f"<h3>{heading}</h3>", frame.to_html()]
        wrong = details.hardest(run)
        if wrong is not None:
            parts += ["<h3>Most confidently wrong test examples</h3>", wrong.to_html(index=False)]
        sections.append("\n".join(parts))
    return sections
