"""A static report.html: the leaderboard, learning curves and sweep plots as embedded PNGs.

Images are base64 data URIs, so the one file can be mailed or attached to CI as is.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from ftlab.report.runs import Run


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(ncols: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on build machines
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(6 * ncols, 4), squeeze=False)


def learning_curves(runs: list[Run], labels: dict[str, str]) -> dict[str, str]:
    """Per task: training loss and the main validation metric against step, one line per run."""
    images = {}
    for task in sorted({str(run.config.get("task.name")) for run in runs}):
        members = [r for r in runs if str(r.config.get("task.name")) == task and r.log_history]
        if not members:
            continue
        metric = members[0].main_metric
        fig, axes = _figure(2)
        loss_ax, metric_ax = axes[0]
        for run in members:
            history = pd.DataFrame(run.log_history)
            label = labels.get(str(run.path), run.path.name)
            for ax, column in ((loss_ax, "loss"), (metric_ax, f"eval_{metric}")):
                if column in history:
                    points = history.dropna(subset=[column])
                    ax.plot(points["step"], points[column], marker=".", label=label)
        loss_ax.set(title=f"{task}: training loss", xlabel="step", ylabel="loss")
        metric_ax.set(title=f"{task}: validation {metric}", xlabel="step", ylabel=metric)
        metric_ax.legend(fontsize="small")
        images[f"Learning curves: {task}"] = _png(fig)
    return images


def sweep_plots(table: pd.DataFrame, settings: list[str]) -> dict[str, str]:
    """For each swept setting: validation and test score (mean ± std over seeds) per value."""
    images = {}
    for (task, model), group in table.groupby(["task", "model"], sort=True):
        for setting in settings:
            if setting not in group or group[setting].nunique() < 2:
                continue
            stats = group.groupby(setting)[["validation", "test"]].agg(["mean", "std"])
            numeric = pd.api.types.is_numeric_dtype(group[setting])
            x = stats.index if numeric else range(len(stats))
            fig, axes = _figure(1)
            ax = axes[0][0]
            for split in ("validation", "test"):
                ax.errorbar(
                    x,
                    stats[(split, "mean")],
                    yerr=stats[(split, "std")],
                    marker="o",
                    capsize=4,
                    label=split,
                )
            if not numeric:
                ax.set_xticks(list(x), [str(v) for v in stats.index])
            metric = group["metric"].iloc[0]
            ax.set(title=f"{task} / {model}: {metric} vs {setting}", xlabel=setting, ylabel=metric)
            ax.legend()
            images[f"Sweep: {task} / {model}, {setting}"] = _png(fig)
    return images


def page(board: pd.DataFrame, problems: pd.DataFrame, images: dict[str, str], root: str) -> str:
    """The whole report as one HTML document."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ftlab report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}</style></head><body>",
        f"<h1>ftlab report</h1><p>Runs under <code>{html.escape(root)}</code>, {stamp}. "
        "Scores are mean ± std over seeds; the last column is the test score of the seed "
        "with the best validation score.</p>",
        "<h2>Leaderboard</h2>",
        board.to_html(index=False) if len(board) else "<p>No completed runs.</p>",
    ]
    if len(problems):
        parts += ["<h2>Failed and unfinished runs (not averaged in)</h2>"]
        parts += [problems.to_html(index=False)]
    for title, data in images.items():
        parts += [f"<h2>{html.escape(title)}</h2>", f"<img alt='{html.escape(title)}' "]
        parts[-1] += f"src='data:image/png;base64,{data}'>"
    parts.append("</body></html>")
    return "\n".join(parts)
