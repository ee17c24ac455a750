"""Command line: python -m ftlab.report [FOLDER] [--out DIR]."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftlab.errors import one_line_errors
from ftlab.report import LEADERBOARD_CSV, REPORT_HTML, build_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ftlab.report",
        description="Leaderboard of the runs under FOLDER: seeds as mean ± std, plots in HTML.",
    )
    parser.add_argument("folder", nargs="?", default="experiments", type=Path)
    parser.add_argument(
        "--out", type=Path, help=f"where {LEADERBOARD_CSV} and {REPORT_HTML} go (default: FOLDER)"
    )
    args = parser.parse_args(argv)
    out_dir = args.out or args.folder
    with one_line_errors():
        print(build_report(args.folder, out_dir))
    print(f"\nwrote {out_dir / LEADERBOARD_CSV} and {out_dir / REPORT_HTML}")


if __name__ == "__main__":
    main()
