"""`python -m ftlab.report` on a folder of real tiny runs: 2 configs × 3 seeds, one failure."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest
from helpers import compose_config, headless_chromium, tiny_run_overrides

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
    # a failure inside the run, after its directory is written (a missing file is refused before)
    unreadable = root / "no_text_column.csv"
    unreadable.write_text("sentence,label\nhello,greet\n")
    broken = [*base, f"task.train_file={unreadable}"]
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
    assert (tmp_path / "report.md").read_text() in printed  # the summary, beside the page


def test_html_report_has_curves_sweep_plot_and_the_failed_run(
    experiments: Path, tmp_path: Path
) -> None:
    main([str(experiments), "--out", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") >= 2
    assert "Learning curves: intent" in page
    assert "Sweep: intent / " in page and "optimizer.learning_rate" in page
    assert "Failed and unfinished runs" in page and "has no column 'text'" in page


def test_report_on_an_empty_folder_says_what_to_give(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert "no runs under" in capsys.readouterr().err


def _run(path: str, overrides: list[str], use_cpu: bool, accuracy: float, env: bool) -> object:
    from ftlab.report.runs import Run, user_overrides

    config = {
        "task.name": "sentiment",
        "model.name": "minilm",
        "task.main_metric": "accuracy",
        "hardware.use_cpu": use_cpu,  # a resolved default that differs: not what was changed
        "adapt.kind": "tapt" if "adapt=tapt" in overrides else "none",
        "trainer.seed": 1,
    }
    recorded = {"choices": {"task": "sentiment"}, "overrides": overrides} if env else {}
    return Run(
        path=Path(path),
        status="completed",
        config=config,
        metrics={"validation": {"eval_accuracy": accuracy}, "test": {"test_accuracy": accuracy}},
        overrides=user_overrides(recorded),
    )


def test_configurations_are_named_by_what_the_user_changed() -> None:
    from ftlab.report.runs import runs_table

    common = ["experiment=demo", "++adapt.num_train_epochs=5", "trainer.seed=1", "hydra.x=1"]
    runs = [
        _run("a", [*common, "adapt=none"], True, 0.80, env=True),
        _run("b", [*common, "adapt=tapt"], False, 0.82, env=True),
    ]
    table = runs_table(runs)
    assert list(table["config"]) == ["adapt=none", "adapt=tapt"]
    assert "hardware.use_cpu" not in table.columns and "trainer.seed" not in table.columns
    # negative control: without the recorded command line, the resolved keys that differ
    fallback = runs_table([_run(r, [], c, 0.8, env=False) for r, c in (("a", 1), ("b", 0))])
    assert "hardware.use_cpu" in fallback.columns


def test_best_run_sections_show_classes_confusions_and_hardest_examples(
    experiments: Path, tmp_path: Path
) -> None:
    from ftlab.report import details
    from ftlab.report.runs import find_runs

    main([str(experiments), "--out", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    completed = [run for run in find_runs(experiments) if run.status == "completed"]
    best = details.best_runs(completed)["intent"]
    accuracies = {run.path: run.metrics["validation"]["eval_accuracy"] for run in completed}
    assert accuracies[best.path] == max(accuracies.values())
    assert f"Best run of intent: <code>{best.path.name}</code>" in page
    assert "test confusion matrix" in page and "per class" in page
    labels, counts = details.confusion(best)
    rows = (best.path / "predictions.jsonl").read_text().splitlines()
    assert counts.sum() == len(rows) and len(labels) == counts.shape[0]
    # the diagonal is what the test accuracy counts
    test_accuracy = best.metrics["test"]["test_accuracy"]
    assert counts.trace() / counts.sum() == pytest.approx(test_accuracy)
    wrong = details.hardest(best)
    assert wrong is None or (wrong["gold"] != wrong["predicted"]).all()


def test_two_runs_side_by_side(experiments: Path, tmp_path: Path, capsys) -> None:
    a, b = experiments / "lr1e-3-seed1", experiments / "lr3e-3-seed1"
    main([str(a), str(b), "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "| optimizer.learning_rate | 0.001 | 0.003 |" in printed
    assert "trainer.seed" not in printed  # the same in both: not a difference
    first, second = (read_json(run / "metrics.json")["test"]["test_accuracy"] for run in (a, b))
    assert f"| test_accuracy | {first:.4f} | {second:.4f} | {second - first:+.4f} |" in printed
    page = (tmp_path / "compare.html").read_text()
    assert "Learning curves: intent" in page and "Test F1 per class" in page
    with pytest.raises(SystemExit):
        main([str(a), str(b), str(experiments)])
    assert "two run directories" in capsys.readouterr().err


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"] - 1
        and b["left"] < a["right"] - 1
        and a["top"] < b["bottom"] - 1
        and b["top"] < a["bottom"] - 1
    )


def test_the_page_in_a_real_browser_shows_the_leaderboard_and_every_plot(
    experiments: Path, tmp_path: Path
) -> None:
    """What a person sees in headless Chromium: the two configurations' rows, every image
    decoded with a real size, nothing drawn over anything else, the failed run listed."""
    from selenium.webdriver.common.by import By

    main([str(experiments), "--out", str(tmp_path)])
    browser = headless_chromium()
    try:
        browser.get((tmp_path / "report.html").as_uri())
        tables = browser.find_elements(By.TAG_NAME, "table")
        leaderboard = tables[0].find_elements(By.CSS_SELECTOR, "tbody tr")
        shown = [row.text for row in leaderboard]
        assert len(shown) == 2 and all("intent" in row for row in shown), shown
        assert any("0.001" in row for row in shown) and any("0.003" in row for row in shown)
        images = browser.find_elements(By.TAG_NAME, "img")
        assert len(images) >= 3  # learning curves, the sweep, the best run's panels
        sizes = [
            browser.execute_script("return [arguments[0].complete, arguments[0].naturalWidth]", i)
            for i in images
        ]
        assert all(done and width > 100 for done, width in sizes), sizes
        boxes = [
            browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", e)
            for e in [*images, *tables]
        ]
        assert all(box["width"] > 50 and box["height"] > 20 for box in boxes)
        for i, a in enumerate(boxes):
            assert not any(_overlap(a, b) for b in boxes[i + 1 :]), a
        assert "has no column 'text'" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.quit()


def test_chinese_labels_are_drawn_with_a_cjk_font() -> None:
    import io
    import warnings

    import numpy as np

    from ftlab.report import html

    if not html.cjk_fonts():
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    labels, counts = ["民事", "刑事", "行政"], np.array([[3, 1, 0], [0, 2, 1], [1, 0, 4]])

    def missing_glyphs(draw) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            draw()
        return [str(w.message) for w in caught if "missing from font" in str(w.message)]

    def latin_only() -> None:  # negative control: the default font has no CJK glyphs
        import matplotlib.pyplot as plt

        with plt.rc_context({"font.family": ["DejaVu Sans"]}):
            fig, ax = plt.subplots()
            ax.set_title("测试 " + " ".join(labels))
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)

    html.confusion_image(labels, counts, "warm-up")  # selects the backend and fonts
    assert missing_glyphs(latin_only)
    assert not missing_glyphs(lambda: html.confusion_image(labels, counts, "测试 混淆矩阵"))
