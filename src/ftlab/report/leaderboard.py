"""Seeds aggregated per configuration: mean ± std, seed count, best-by-validation seed's test.

The last column follows the LexGLUE protocol: pick the seed with the best validation
score and report its test score, next to the mean over all seeds. "Best" follows each
run's metric direction (an MSE is best where it is lowest).
"""

from __future__ import annotations

import pandas as pd

GROUP_KEYS = ["task", "model", "config", "metric"]


def leaderboard(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, model, config) from the per-run table of completed runs, best
    configuration first within each task and model."""
    scored = table.dropna(subset=["validation"]).copy()
    # higher is better for every metric: a minimised one counts negated
    scored["_merit"] = scored["validation"].where(scored["maximize"], -scored["validation"])
    grouped = scored.groupby(GROUP_KEYS, sort=False, dropna=False)
    board = grouped.agg(
        seeds=("validation", "count"),
        validation_mean=("validation", "mean"),
        validation_std=("validation", "std"),
        test_mean=("test", "mean"),
        test_std=("test", "std"),
    )
    board["_merit"] = grouped["_merit"].mean()
    best = scored.loc[grouped["_merit"].idxmax()].set_index(GROUP_KEYS)
    board["best_seed"] = best["seed"]
    board["best_seed_test"] = best["test"]
    board = board.reset_index().sort_values(
        ["task", "model", "_merit"], ascending=[True, True, False], ignore_index=True
    )
    return board.drop(columns="_merit")


def _mean_std(mean: float, std: float) -> str:
    """`0.8123 ± 0.0040`; a single seed has no spread, so only its score."""
    return f"{mean:.4f}" if pd.isna(std) else f"{mean:.4f} ± {std:.4f}"


def formatted(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as display strings (markdown and HTML share it)."""
    return pd.DataFrame(
        {
            "task": board["task"],
            "model": board["model"],
            "config": board["config"].replace("", "-"),
            "metric": board["metric"],
            "seeds": board["seeds"],
            "validation": [
                _mean_std(m, s)
                for m, s in zip(board["validation_mean"], board["validation_std"], strict=True)
            ],
            "test": [
                _mean_std(m, s) for m, s in zip(board["test_mean"], board["test_std"], strict=True)
            ],
            "test of best-validation seed": [
                f"{t:.4f} (seed {seed})"
                for t, seed in zip(board["best_seed_test"], board["best_seed"], strict=True)
            ],
        }
    )


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of string cells (pandas' to_markdown needs tabulate)."""
    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "|" + "|".join("---" for _ in frame.columns) + "|",
    ]
    lines += [
        "| " + " | ".join(str(cell) for cell in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)
