"""A static report.html: the leaderboard, learning curves and sweep plots as embedded PNGs.

Images are base64 data URIs, so the one file can be mailed or attached to CI as is.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from ftlab.report.runs import Run


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# fonts with CJK glyphs, in order of preference (Debian: fonts-noto-cjk, fonts-wqy-zenhei)
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Droid Sans Fallback")
_CJK_FILES = ("NotoSansCJK", "wqy-zenhei", "DroidSansFallback")


@functools.cache
def cjk_fonts() -> tuple[str, ...]:
    """The installed CJK fonts; matplotlib's font list is cached, so a font installed after
    the cache was built is added from the system's font folders."""
    from matplotlib import font_manager

    def installed() -> list[str]:
        names = {font.name for font in font_manager.fontManager.ttflist}
        return [name for name in CJK_FONTS if name in names]

    if not installed():
        for path in font_manager.findSystemFonts():
            if any(part in path for part in _CJK_FILES):
                font_manager.fontManager.addfont(path)
    return tuple(installed())


def _figure(ncols: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on build machines
    import matplotlib.pyplot as plt

    # Latin text in DejaVu Sans, Chinese labels from a CJK font where one is installed
    # (matplotlib falls back glyph by glyph along font.family, not along a generic family's
    # list); without one, CJK shows as boxes, never fails
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", *cjk_fonts()]
    return plt.subplots(1, ncols, figsize=(6 * ncols, 4), squeeze=False)


def learning_curves(runs: list[Run], labels: dict[str, str]) -> dict[str, str]:
    """Per task: training loss and the main validation metric against step, one line per run;
    a run too short to log a loss (fewer steps than logging_steps) shows its mean training
    loss at its last step instead. One legend for both, below them, never over the data."""
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
            (line,) = loss_ax.plot([], [], marker=".", label=label)  # the run's colour
            _plot_column(loss_ax, history, "loss", line, fallback="train_loss")
            _plot_column(metric_ax, history, f"eval_{metric}", line)
        loss_ax.set(title=f"{task}: training loss", xlabel="step", ylabel="loss")
        metric_ax.set(title=f"{task}: validation {metric}", xlabel="step", ylabel=metric)
        for ax, what in ((loss_ax, "training loss"), (metric_ax, f"validation {metric}")):
            if not ax.has_data():
                ax.text(0.5, 0.5, f"no {what} logged", ha="center", transform=ax.transAxes)
            ax.set_xlim(left=0)  # steps from the start, also when a short run logged one point
        fig.legend(
            *loss_ax.get_legend_handles_labels(),
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(3, len(members)),
            fontsize="small",
        )
        images[f"Learning curves: {task}"] = _png(fig)
    return images


def _plot_column(
    ax: Any, history: pd.DataFrame, column: str, line: Any, fallback: str | None = None
) -> None:
    """The logged values of `column` by step, in the run's colour; else `fallback`'s."""
    for name in (column, fallback):
        if name and name in history and history[name].notna().any():
            points = history.dropna(subset=[name])
            ax.plot(points["step"], points[name], marker=".", color=line.get_color())
            return


def class_scores(frame: pd.DataFrame, title: str) -> str:
    """Precision, recall and F1 per class as grouped horizontal bars."""
    fig, axes = _figure(1)
    ax = axes[0][0]
    positions = np.arange(len(frame))
    for offset, column in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1"), strict=True):
        ax.barh(positions + offset, frame[column].astype(float), height=0.27, label=column)
    ax.set_yticks(
        positions,
        [f"{name} ({int(n)})" for name, n in zip(frame.index, frame["support"], strict=True)],
    )
    ax.invert_yaxis()
    ax.set(title=title, xlim=(0, 1), xlabel="score (support in brackets)")
    fig.set_size_inches(7, max(3, 0.35 * len(frame) + 1.5))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _png(fig)


def confusion_image(labels: list[str], counts: np.ndarray, title: str) -> str:
    """The confusion matrix (rows: gold, columns: predicted) with counts in the cells."""
    fig, axes = _figure(1)
    ax = axes[0][0]
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    limit = counts.max() / 2 if counts.size else 0
    for (i, j), value in np.ndenumerate(counts):
        ax.text(
            j, i, str(value), ha="center", va="center", color="white" if value > limit else "black"
        )
    ax.set(title=title, xlabel="predicted", ylabel="gold")
    size = max(4, 0.5 * len(labels) + 2)
    fig.set_size_inches(size, size)
    return _png(fig)


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
            if numeric and stats.index.min() > 0 and stats.index.max() / stats.index.min() >= 4:
                ax.set_xscale("log")  # learning rates and the like span orders of magnitude
            for split in ("validation", "test"):
                ax.errorbar(
                    x,
                    stats[(split, "mean")],
                    yerr=stats[(split, "std")],
                    marker="o",
                    capsize=4,
                    label=split,
                )
            # a tick at each swept value only, so labels never run into each other
            ax.set_xticks(list(x), [f"{v:g}" if numeric else str(v) for v in stats.index])
            ax.minorticks_off()
            metric = group["metric"].iloc[0]
            ax.set(title=f"{task} / {model}: {metric} vs {setting}", xlabel=setting, ylabel=metric)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # beside
            images[f"Sweep: {task} / {model}, {setting}"] = _png(fig)
    return images


def image_tag(title: str, data: str) -> str:
    return f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"


def document(title: str, intro: str, parts: list[str]) -> str:
    """One self-contained HTML document: a heading, an intro line, then `parts` (HTML)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{intro} ({stamp})</p>",
    ]
    return "\n".join([*head, *parts, "</body></html>"])


def page(
    board: pd.DataFrame,
    problems: pd.DataFrame,
    images: dict[str, str],
    root: str,
    details: list[str] | None = None,
) -> str:
    """The report of a folder of runs (`details`: per-run sections, as HTML)."""
    parts = [
        "<h2>Leaderboard</h2>",
        board.to_html(index=False) if len(board) else "<p>No completed runs.</p>",
    ]
    if len(problems):
        parts += ["<h2>Failed and unfinished runs (not averaged in)</h2>"]
        parts += [problems.to_html(index=False)]
    for title, data in images.items():
        parts += [f"<h2>{html.escape(title)}</h2>", image_tag(title, data)]
    parts += details or []
    intro = (
        f"Runs under <code>{html.escape(root)}</code>. Scores are mean ± std over seeds; the "
        "last column is the test score of the seed with the best validation score."
    )
    return document("ftlab report", intro, parts)
