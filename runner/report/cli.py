"""Re-render a finished run's report from its ``report.json`` alone.

Usage::

    python -m runner.report.cli RUN_DIR [--template-dir DIR] [--title TITLE] [--pdf-required]

The title defaults to the one the run was configured with (``config.report.title`` in
``report.json``). User errors print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jinja2

from runner.errors import UserError
from runner.report.render import DEFAULT_TITLE, load_report, render_report

EXIT_USER_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    """Re-render ``report.html`` and ``report.pdf`` of a run directory.

    Args:
        argv: Command-line arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        0 on success (also when the PDF was skipped with a warning), 2 on a user error.
    """
    args = _parser().parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        title = args.title if args.title is not None else _configured_title(run_dir)
        outcome = render_report(
            run_dir,
            template_dir=args.template_dir,
            title=title,
            pdf_required=args.pdf_required,
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except jinja2.TemplateError as exc:
        print(f"error: report template: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"wrote {outcome.html}")
    if outcome.pdf is not None:
        print(f"wrote {outcome.pdf}")
    if outcome.warning is not None:
        print(f"warning: {outcome.warning}", file=sys.stderr)
    return 0


def _configured_title(run_dir: Path) -> str:
    """The run's ``config.report.title`` from ``report.json``, else the default title."""
    config = load_report(run_dir).get("config")
    report_cfg = config.get("report") if isinstance(config, dict) else None
    title = report_cfg.get("title") if isinstance(report_cfg, dict) else None
    return title if isinstance(title, str) and title else DEFAULT_TITLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runner.report.cli",
        description="Re-render a run's report.html and report.pdf from its report.json.",
    )
    parser.add_argument("run_dir", help="the run directory that holds report.json")
    parser.add_argument(
        "--template-dir",
        default="",
        help="folder whose templates override the packaged ones by file name",
    )
    parser.add_argument("--title", default=None, help="report title (default: the run's)")
    parser.add_argument(
        "--pdf-required",
        action="store_true",
        help="fail instead of warning when the PDF cannot be produced",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
