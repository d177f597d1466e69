"""The sweep summary: ``sweep_report.json`` from the job records, rendered to HTML and PDF.

Reads ``<sweep dir>/jobs/*.json`` (written by :class:`runner.report.sweep.SweepReportCallback`)
and each job's ``report.json``; writes ``sweep_report.json``, ``sweep_report.html`` and, with
WeasyPrint, ``sweep_report.pdf`` into the sweep directory. Rebuild it any time::

    python -m runner.report.sweep_render SWEEP_DIR [--template-dir DIR] [--pdf-required]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.atomic import atomic_write_bytes, atomic_write_json
from runner.errors import MissingDependencyError, UserError
from runner.report import plots, render
from runner.write_paths import contained

logger = logging.getLogger(__name__)

SWEEP_SCHEMA_VERSION = 1
SWEEP_TEMPLATE = "sweep_report.html.j2"
JOBS_DIR = "jobs"  # same as runner.report.sweep.JOBS_DIR (not imported: that pulls in Hydra)


def build_sweep_summary(sweep_dir: Path) -> dict[str, Any]:
    """The sweep's jobs side by side, from the job records and each run's ``report.json``.

    Returns:
        The ``sweep_report.json`` dict documented in ``docs/report.md``.
    """
    records = []
    for path in sorted((sweep_dir / JOBS_DIR).glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            logger.warning("sweep summary: skipping %s: %s", path, exc)
    records.sort(key=lambda r: int(r.get("num", 0)))
    varied, common = _split_overrides([r.get("overrides", []) for r in records])
    jobs = [_job(r, varied=varied) for r in records]
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "sweep_dir": str(sweep_dir),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "n_jobs": len(records),
        "varied": varied,
        "common_overrides": common,
        "metric_labels": list(dict.fromkeys(m for j in jobs for m in j["metrics"])),
        "jobs": jobs,
    }


def _split_overrides(per_job: Sequence[Sequence[str]]) -> tuple[list[str], list[str]]:
    """Override keys whose value differs between jobs, and the overrides all jobs share."""
    parsed = [dict(_key_value(o) for o in overrides) for overrides in per_job]
    keys = list(dict.fromkeys(k for job in parsed for k in job))
    varied = [k for k in keys if len({job.get(k) for job in parsed}) > 1]
    common = [f"{k}={parsed[0][k]}" for k in keys if k not in varied and parsed]
    return varied, common


def _key_value(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key, value


def _job(record: Mapping[str, Any], *, varied: Sequence[str]) -> dict[str, Any]:
    """One job: its record plus counts, metrics and time from its ``report.json``."""
    overrides = dict(_key_value(o) for o in record.get("overrides", []))
    job: dict[str, Any] = {
        "num": record.get("num"),
        "overrides": list(record.get("overrides", [])),
        "varied": {k: overrides.get(k) for k in varied},
        "status": record.get("status", "UNKNOWN"),
        "run_dir": record.get("run_dir"),
        "error": record.get("error"),
        "run_id": None,
        "counts": {},
        "metrics": {},
        "duration_s": None,
        "stopped_by": None,
    }
    report = _load(record.get("run_dir"))
    if report is None:
        return job
    rows = report.get("analysis", {}).get("dashboard", {}).get("rows", [])
    job.update(
        run_id=report.get("run_id"),
        counts=dict(report.get("counts", {})),
        duration_s=report.get("duration_s"),
        stopped_by=report.get("selection", {}).get("stopped_by"),
        metrics={
            str(r.get("label", r.get("metric"))): {
                "selection": r.get("selection"),
                "random": r.get("random"),
                "change_vs_random": r.get("change_vs_random"),
            }
            for r in rows
        },
    )
    return job


def _load(run_dir: Any) -> dict[str, Any] | None:
    if not isinstance(run_dir, str):
        return None
    try:
        report = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def sweep_chart(summary: Mapping[str, Any]) -> str | None:
    """Diversity and coverage (and balance) per job: the selection next to the random subset."""
    jobs = [j for j in summary["jobs"] if j["metrics"]]
    labels = summary["metric_labels"]
    metrics = {
        label: {
            name: [j["metrics"].get(label, {}).get(name) for j in jobs]
            for name in ("selection", "random")
        }
        for label in labels
    }
    varied = summary["varied"]
    if len(varied) == 1:
        return plots.sweep_chart(
            [str(j["varied"][varied[0]]) for j in jobs], metrics, xlabel=varied[0]
        )
    return plots.sweep_chart([str(j["num"]) for j in jobs], metrics)


def render_sweep(
    sweep_dir: Path, *, title: str = "", template_dir: str = "", pdf_required: bool = False
) -> render.RenderOutcome:
    """Write ``sweep_report.json``, ``.html`` and (with WeasyPrint) ``.pdf`` in ``sweep_dir``.

    Raises:
        MissingDependencyError: If ``pdf_required`` and WeasyPrint or its libraries are missing.
    """
    summary = build_sweep_summary(sweep_dir)
    atomic_write_json(contained(sweep_dir, "sweep_report.json"), summary)
    env = render.build_environment(template_dir=template_dir)
    html = env.get_template(SWEEP_TEMPLATE).render(
        sweep=summary,
        chart=sweep_chart(summary),
        title=title or render.DEFAULT_TITLE,
    )
    html_path = contained(sweep_dir, "sweep_report.html")
    atomic_write_bytes(html_path, html.encode("utf-8"))
    try:
        pdf = render.html_to_pdf(html=html, base_url=str(sweep_dir))
    except (ImportError, OSError) as exc:
        warning = render.pdf_unavailable_message(exc)
        if pdf_required:
            raise MissingDependencyError(warning) from exc
        return render.RenderOutcome(html=html_path, pdf=None, warning=warning)
    pdf_path = contained(sweep_dir, "sweep_report.pdf")
    atomic_write_bytes(pdf_path, pdf)
    return render.RenderOutcome(html=html_path, pdf=pdf_path, warning=None)


def main(argv: list[str] | None = None) -> int:
    """Rebuild a sweep's summary; 0 on success, 2 on a user error."""
    parser = argparse.ArgumentParser(
        prog="python -m runner.report.sweep_render",
        description="Rebuild sweep_report.json/.html/.pdf of a lightly-run -m sweep.",
    )
    parser.add_argument("sweep_dir", help="the sweep directory (holds jobs/*.json)")
    parser.add_argument("--template-dir", default="", help="folder of template overrides")
    parser.add_argument("--title", default="", help="title shown above the summary")
    parser.add_argument("--pdf-required", action="store_true", help="fail without WeasyPrint")
    args = parser.parse_args(argv)
    sweep_dir = Path(args.sweep_dir)
    if not (sweep_dir / JOBS_DIR).is_dir():
        print(f"error: no {JOBS_DIR}/ in {sweep_dir}: is this a sweep directory?", file=sys.stderr)
        return 2
    try:
        outcome = render_sweep(
            sweep_dir,
            title=args.title,
            template_dir=args.template_dir,
            pdf_required=args.pdf_required,
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {outcome.pdf or outcome.html}")
    if outcome.warning:
        print(f"warning: {outcome.warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
