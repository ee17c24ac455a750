"""Command line: python -m ftlab.report [FOLDER] [--out DIR], or RUN_A RUN_B side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftlab.errors import FtlabError, one_line_errors
from ftlab.report import LEADERBOARD_CSV, REPORT_HTML, REPORT_MD, build_report
from ftlab.report.compare import COMPARE_HTML, compare, is_run_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ftlab.report",
        description="Leaderboard of the runs under FOLDER: seeds as mean ± std, plots in HTML; "
        "or two runs side by side (python -m ftlab.report RUN_A RUN_B).",
    )
    parser.add_argument(
        "folders",
        nargs="*",
        type=Path,
        help="a folder of runs (default: experiments), or two run directories to compare",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"where {LEADERBOARD_CSV} and {REPORT_HTML} (or {COMPARE_HTML}) go "
        "(default: FOLDER; the current directory for two runs)",
    )
    args = parser.parse_args(argv)
    folders = args.folders or [Path("experiments")]
    with one_line_errors():
        if len(folders) == 2 and all(is_run_dir(path) for path in folders):
            out_dir = args.out or Path(".")
            print(compare(*folders, out_dir))
            print(f"\nwrote {out_dir / COMPARE_HTML}")
            return
        if len(folders) != 1:
            raise FtlabError(
                "give one folder of runs, or two run directories (each with config.yaml "
                "and status.json) to compare them"
            )
        out_dir = args.out or folders[0]
        print(build_report(folders[0], out_dir))
    written = (LEADERBOARD_CSV, REPORT_MD, REPORT_HTML)
    print(f"\nwrote {', '.join(str(out_dir / name) for name in written)}")


if __name__ == "__main__":
    main()
