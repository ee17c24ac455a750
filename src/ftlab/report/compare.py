"""`python -m ftlab.report RUN_A RUN_B`: two runs side by side in one HTML page and a
markdown summary: what differs in their configs, their metrics with the difference, their
learning curves together, per-class F1 of both, and the test examples they disagree on."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from ftlab.errors import FtlabError
from ftlab.records import CONFIG_FILE, STATUS_FILE
from ftlab.report import details
from ftlab.report.html import document, image_tag, learning_curves
from ftlab.report.leaderboard import markdown
from ftlab.report.runs import NOT_A_SETTING, Run, find_runs

COMPARE_HTML = "compare.html"
DISAGREEMENTS = 20  # test examples shown where the two runs predict differently


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / STATUS_FILE).is_file()


def _load(path: Path) -> Run:
    runs = [run for run in find_runs(path) if run.path == path]
    if not runs:
        raise FtlabError(f"{path} holds no ftlab run (no config.yaml and status.json)")
    return runs[0]


def config_differences(a: Run, b: Run) -> pd.DataFrame:
    """The resolved config keys whose values differ (paths and display keys left out)."""
    keys = sorted(set(a.config) | set(b.config))
    rows = [
        {"key": key, "A": a.config.get(key), "B": b.config.get(key)}
        for key in keys
        if not key.startswith(NOT_A_SETTING) and a.config.get(key) != b.config.get(key)
    ]
    return pd.DataFrame(rows, columns=["key", "A", "B"])


def metric_table(a: Run, b: Run) -> pd.DataFrame:
    """Validation and test metrics of both, and B - A."""
    rows = []
    for split in ("validation", "test"):
        names = sorted(set(a.metrics.get(split, {})) | set(b.metrics.get(split, {})))
        for name in names:
            if name.endswith(("runtime", "per_second")) or name == "epoch":
                continue
            first, second = a.metrics[split].get(name), b.metrics[split].get(name)
            both = isinstance(first, (int, float)) and isinstance(second, (int, float))
            rows.append(
                {
                    "metric": name,
                    "A": _cell(first),
                    "B": _cell(second),
                    "B - A": f"{second - first:+.4f}" if both else "",
                }
            )
    return pd.DataFrame(rows, columns=["metric", "A", "B", "B - A"])


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "" if value is None else str(value)


def disagreements(a: Run, b: Run, count: int = DISAGREEMENTS) -> pd.DataFrame | None:
    """Test examples (single-label runs of the same test set) the two predict differently."""
    rows_a, rows_b = (_predictions(run) for run in (a, b))
    if not rows_a or len(rows_a) != len(rows_b) or not isinstance(rows_a[0].get("label"), str):
        return None
    found = [
        {
            "text": ra["text"][:300],
            "gold": ra["label"],
            "A": ra["prediction"],
            "B": rb["prediction"],
        }
        for ra, rb in zip(rows_a, rows_b, strict=True)
        if ra["text"] == rb["text"] and ra["prediction"] != rb["prediction"]
    ]
    return pd.DataFrame(found[:count], columns=["text", "gold", "A", "B"]) if found else None


def _predictions(run: Run) -> list[dict]:
    path = run.path / details.PREDICTIONS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def compare(path_a: Path, path_b: Path, out_dir: Path) -> str:
    """Write compare.html into `out_dir`; return the markdown summary."""
    a, b = _load(path_a), _load(path_b)
    differences, metrics = config_differences(a, b), metric_table(a, b)
    labels = {str(a.path): f"A: {a.path.name}", str(b.path): f"B: {b.path.name}"}
    sections = [
        f"<p>A = <code>{html.escape(str(a.path))}</code> ({a.status}), "
        f"B = <code>{html.escape(str(b.path))}</code> ({b.status})</p>",
        "<h2>Config: what differs</h2>",
        differences.to_html(index=False) if len(differences) else "<p>Nothing.</p>",
        "<h2>Metrics</h2>",
        metrics.to_html(index=False),
    ]
    for title, data in learning_curves([a, b], labels).items():
        sections += [f"<h2>{html.escape(title)}</h2>", image_tag(title, data)]
    scores = {name: details.per_class(run) for name, run in (("A", a), ("B", b))}
    if all(frame is not None for frame in scores.values()):
        f1 = pd.DataFrame({name: frame["f1"] for name, frame in scores.items()})
        sections += ["<h2>Test F1 per class</h2>", f1.round(4).to_html()]
    disagreeing = disagreements(a, b)
    if disagreeing is not None:
        sections += ["<h2>Test examples they predict differently</h2>"]
        sections += [disagreeing.to_html(index=False)]
    out_dir.mkdir(parents=True, exist_ok=True)
    intro = "Two runs side by side"
    (out_dir / COMPARE_HTML).write_text(
        document("ftlab: run A vs run B", intro, sections), encoding="utf-8"
    )
    shown = markdown(differences.astype(str)) if len(differences) else "(none)"
    return "\n".join(["Config keys that differ:", shown, "", markdown(metrics)])
