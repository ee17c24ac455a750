"""Metrics as a plain-text table: one row per name, one column per split or run."""

from __future__ import annotations

from collections.abc import Mapping

Scores = Mapping[str, float | int | None]


def metrics_table(rows: Mapping[str, Scores], first_header: str, columns: list[str]) -> str:
    """`rows` maps a row name to its scores by column; a missing or non-number cell is '-'."""
    width = max([14, len(first_header), *(len(name) for name in rows)]) + 2
    # a column as wide as its name (a space apart), at least 12
    widths = [max(12, len(column) + 1) for column in columns]
    lines = [
        f"{first_header:<{width}}"
        + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    ]
    for name, scores in rows.items():
        cells = (scores.get(column) for column in columns)
        lines.append(
            f"{name:<{width}}"
            + "".join(
                f"{c:>{w}.4f}" if isinstance(c, (int, float)) else f"{'-':>{w}}"
                for c, w in zip(cells, widths, strict=True)
            )
        )
    return "\n".join(lines)
