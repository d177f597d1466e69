"""The sweep summary's Hydra callback: after ``lightly-run -m ...``, compare the jobs.

Registered in ``conf/config.yaml`` under ``hydra.callbacks``. For every job of a multirun,
``on_job_end`` finds the job's run directory and writes a small record to
``<sweep dir>/jobs/<job number>.json``; ``on_multirun_end`` turns the records into
``sweep_report.json``, ``sweep_report.html`` and ``sweep_report.pdf`` in the sweep directory
(:mod:`runner.report.sweep_render`). Records are files, not state in this object, so the
summary also works with launchers that run jobs in other processes, and it can be rebuilt
later: ``python -m runner.report.sweep_render SWEEP_DIR``.

Finding a job's run directory, most reliable first:

1. the job's return value, if it is the path of a run directory (holding ``report.json``);
2. the run directories that appeared in the job's ``.lightly/runs/`` while it ran
   (``on_job_start`` lists them first), narrowed, if several appeared (parallel jobs on one
   datasource), to those whose ``report.json`` config fingerprint is the job's own.

A callback must never break a run: every failure here is logged as one warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner.atomic import atomic_write_json
from runner.write_paths import OutsideLightlyDatasourceError, contained

logger = logging.getLogger("runner")

JOBS_DIR = "jobs"
_LATEST = "latest"
_FAILED_SUFFIX = "-failed"


class SweepReportCallback(Callback):
    """Collect each job's run directory and write the sweep summary at the end of a multirun."""

    def __init__(self) -> None:
        self._before: set[str] = set()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Remember which run directories exist before the job runs."""
        if not is_multirun(config):
            return
        try:
            self._before = set(run_names(runs_dir(config)))
        except Exception as exc:  # a callback must never break the job
            logger.warning("sweep summary: cannot list runs before job: %s", exc)
            self._before = set()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Write the job's record; after a failed job, write the summary now.

        Hydra skips ``on_multirun_end`` when a job raised, so the summary of the jobs so far
        is written after every failed job instead.
        """
        if not is_multirun(config):
            return
        try:
            record = job_record(config, job_return, before=self._before)
            sweep_dir = sweep_dir_of(config)
            atomic_write_json(contained(sweep_dir, JOBS_DIR, f"{record['num']:03d}.json"), record)
            if record["status"] == "FAILED":
                _write_summary(config, sweep_dir)
        except Exception as exc:
            logger.warning("sweep summary: cannot record job: %s: %s", type(exc).__name__, exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write ``sweep_report.json``, ``.html`` and ``.pdf`` in the sweep directory."""
        try:
            sweep_dir = sweep_dir_of(config)
        except Exception as exc:
            logger.warning("sweep summary not written: %s", exc)
            return
        _write_summary(config, sweep_dir)


def _write_summary(config: DictConfig, sweep_dir: Path) -> None:
    from runner.errors import MissingDependencyError
    from runner.report.sweep_render import render_sweep

    try:
        outcome = render_sweep(
            sweep_dir,
            title=str(OmegaConf.select(config, "report.title", default="") or ""),
            template_dir=str(OmegaConf.select(config, "report.template_dir", default="") or ""),
            pdf_required=bool(OmegaConf.select(config, "report.pdf_required", default=False)),
        )
    except MissingDependencyError as exc:
        print(f"lightly-run: error: {exc}", flush=True)
        raise SystemExit(2) from None
    except Exception as exc:
        logger.warning("sweep summary failed: %s: %s", type(exc).__name__, exc)
        return
    if outcome.warning:
        logger.warning("%s", outcome.warning)
    print(f"sweep summary: {outcome.pdf or outcome.html}", flush=True)


def is_multirun(config: DictConfig) -> bool:
    """Whether ``config`` is a job (or the sweep) of a ``-m`` run."""
    mode = OmegaConf.select(config, "hydra.mode", default=None)
    return getattr(mode, "name", str(mode)) == "MULTIRUN"


def sweep_dir_of(config: DictConfig) -> Path:
    """``hydra.sweep.dir``, proven inside the job's Lightly datasource.

    Raises:
        OutsideLightlyDatasourceError: The sweep folder is not inside the Lightly datasource.
    """
    mount = str(OmegaConf.select(config, "mounts.lightly_mount", default=""))
    relative = str(OmegaConf.select(config, "datasource.lightly.relative_path", default=""))
    lightly_dir = (Path(mount) / relative).resolve()
    sweep = Path(os.path.realpath(str(config.hydra.sweep.dir)))  # existing part resolved
    try:
        relative_sweep = sweep.relative_to(lightly_dir)
    except ValueError:
        raise OutsideLightlyDatasourceError(
            f"hydra.sweep.dir {sweep} is not inside the Lightly datasource {lightly_dir}"
        ) from None
    return contained(lightly_dir, str(relative_sweep))


def runs_dir(config: DictConfig) -> Path:
    """``<lightly mount>/<lightly relative path>/.lightly/runs`` of a job's config."""
    mount = str(OmegaConf.select(config, "mounts.lightly_mount", default=""))
    relative = str(OmegaConf.select(config, "datasource.lightly.relative_path", default=""))
    return (Path(mount) / relative).resolve() / ".lightly" / "runs"


def run_names(folder: Path) -> list[str]:
    """Names of run directories (finished or failed) in a runs folder; [] if it is missing."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and p.name != _LATEST
    )


def job_record(config: DictConfig, job_return: JobReturn, *, before: set[str]) -> dict[str, Any]:
    """The record of one finished job: number, overrides, status, run directory, error."""
    status = job_return.status
    error = None
    if status == JobStatus.FAILED:
        exc = getattr(job_return, "_return_value", None)
        error = f"{type(exc).__name__}: {exc}" if exc is not None else "failed"
    run_dir = _returned_run_dir(job_return) if status == JobStatus.COMPLETED else None
    if run_dir is None:
        run_dir = _new_run_dir(config, job_return, before=before)
    return {
        "num": int(OmegaConf.select(config, "hydra.job.num", default=0)),
        "overrides": [str(o) for o in (job_return.overrides or [])],
        "status": status.name if isinstance(status, JobStatus) else str(status),
        "run_dir": str(run_dir) if run_dir is not None else None,
        "error": error,
    }


def _returned_run_dir(job_return: JobReturn) -> Path | None:
    value = getattr(job_return, "_return_value", None)
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if (path / "report.json").is_file():
            return path.resolve()
    return None


def _new_run_dir(config: DictConfig, job_return: JobReturn, *, before: set[str]) -> Path | None:
    """The run directory the job created: new since ``on_job_start``, config fingerprint first."""
    folder = runs_dir(config)
    new = [folder / name for name in run_names(folder) if name not in before]
    if job_return.status == JobStatus.COMPLETED:
        new = [p for p in new if not p.name.endswith(_FAILED_SUFFIX)]
    if len(new) > 1 and job_return.cfg is not None:
        mine = _matching_fingerprint(new, job_return.cfg)
        new = mine or new
    return new[-1] if new else None


def _matching_fingerprint(candidates: Iterable[Path], cfg: Any) -> list[Path]:
    import json

    from runner.artifacts.outputs import config_fingerprint

    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    wanted = config_fingerprint(
        {str(k): v for k, v in plain.items()} if isinstance(plain, dict) else {}
    )
    found = []
    for path in candidates:
        try:
            report = json.loads((path / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if report.get("fingerprints", {}).get("config") == wanted:
            found.append(path)
    return found
