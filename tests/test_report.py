"""`python -m ftlab.report` on a folder of real tiny runs: 2 configs × 3 seeds, one failure."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest
from helpers import compose_config, tiny_run_overrides

from ftlab.job.lifecycle import run_job
from ftlab.records import read_json
from ftlab.report.__main__ import main

LEARNING_RATES = ("1e-3", "3e-3")
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def experiments(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files: dict
) -> Path:
    root = tmp_path_factory.mktemp("experiments")
    base = tiny_run_overrides(tiny_model_dir, intent_files)
    for rate in LEARNING_RATES:
        for seed in SEEDS:
            overrides = [*base, f"optimizer.learning_rate={rate}", f"trainer.seed={seed}"]
            run_job(compose_config(overrides), root / f"lr{rate}-seed{seed}")
    broken = [*base, "task.train_file=/no/such/file.csv"]
    with pytest.raises(SystemExit):
        run_job(compose_config(broken), root / "broken")
    return root


def test_leaderboard_aggregates_seeds_per_configuration(
    experiments: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main([str(experiments), "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    rows = {row["config"]: row for row in csv.DictReader((tmp_path / "leaderboard.csv").open())}
    assert len(rows) == 2
    for rate in LEARNING_RATES:
        runs = [read_json(experiments / f"lr{rate}-seed{s}" / "metrics.json") for s in SEEDS]
        validation = [m["validation"]["eval_accuracy"] for m in runs]
        test = [m["test"]["test_accuracy"] for m in runs]
        row = rows[f"optimizer.learning_rate={float(rate)}"]
        assert int(row["seeds"]) == 3 and row["metric"] == "accuracy"
        assert float(row["validation_mean"]) == pytest.approx(statistics.mean(validation))
        assert float(row["validation_std"]) == pytest.approx(statistics.stdev(validation))
        assert float(row["test_mean"]) == pytest.approx(statistics.mean(test))
        assert float(row["test_std"]) == pytest.approx(statistics.stdev(test))
        best = max(range(3), key=lambda i: validation[i])  # first of equals, like idxmax
        assert int(row["best_seed"]) == SEEDS[best]
        assert float(row["best_seed_test"]) == pytest.approx(test[best])
        assert f"{statistics.mean(validation):.4f} ± {statistics.stdev(validation):.4f}" in printed
    assert "1 run(s) not completed" in printed and "failed" in printed


def test_html_report_has_curves_sweep_plot_and_the_failed_run(
    experiments: Path, tmp_path: Path
) -> None:
    main([str(experiments), "--out", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") >= 2
    assert "Learning curves: intent" in page
    assert "Sweep: intent / " in page and "optimizer.learning_rate" in page
    assert "Failed and unfinished runs" in page and "no such file" in page


def test_report_on_an_empty_folder_says_what_to_give(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert "no runs under" in capsys.readouterr().err
