"""Rendered reports kept by content, so an unchanged report is not laid out again.

Laying out ``report.pdf`` (WeasyPrint, plus the matplotlib charts of ``report.html``) is the
slowest part of a rerun over unchanged data: seconds, when everything else is cached. Two runs
whose ``report.json`` agrees in everything but the facts of the run itself (:data:`RUN_FACTS`:
its id, clock times, stage timings and cache statistics), with the same thumbnails, templates
and title, would show the same selection, analysis and inputs. The second run then gets a copy
of the first one's ``report.html`` and ``report.pdf``, whose cover and "run" page name the run
that first rendered them; this run's own id, timings and cache statistics are in its
``report.json`` and ``log.txt`` (see ``docs/decisions.md``).

Layout: ``<cache>/reports/<content key>/report.html|report.pdf``, the most recent
:data:`KEEP` keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.atomic import atomic_path
from runner.write_paths import contained

log = logging.getLogger(__name__)

RUN_FACTS = (
    "run_id",
    "started_at",
    "finished_at",
    "duration_s",
    "timings_s",
    "embedding_cache",
    "inspect_cache",
)
"""Top-level ``report.json`` keys that describe the run, not what it selected."""

KEEP = 16
"""Rendered reports kept in the cache (most recently used first)."""

_FILES = ("report.html", "report.pdf")


def content_key(
    report: Mapping[str, Any], *, run_dir: Path, template_dirs: list[Path], title: str
) -> str:
    """sha256 over everything a rendered report shows, except :data:`RUN_FACTS`."""
    stable = {k: v for k, v in report.items() if k not in RUN_FACTS}
    if isinstance(stable.get("analysis"), Mapping):
        stable["analysis"] = {k: v for k, v in stable["analysis"].items() if k != "elapsed_s"}
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode())
    digest.update(title.encode())
    for folder in template_dirs:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    for rel in sorted(report.get("thumbnails", {}).values()):
        path = run_dir / rel
        digest.update(rel.encode())
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


def reuse(cache_dir: Path, key: str, run_dir: Path) -> bool:
    """Copy a report rendered before with ``key`` into ``run_dir``; False when there is none."""
    folder = contained(cache_dir, key[:32])
    if not all((folder / name).is_file() for name in _FILES):
        return False
    try:
        for name in _FILES:
            with atomic_path(contained(run_dir, name), suffix=Path(name).suffix) as tmp:
                shutil.copyfile(folder / name, tmp)
        folder.touch()  # most recently used
    except OSError as exc:
        log.warning("rendered report %s not reused: %s", folder, exc)
        return False
    return True


def keep(cache_dir: Path, key: str, run_dir: Path) -> None:
    """Store this run's rendered report under ``key``; drop all but the newest :data:`KEEP`."""
    folder = contained(cache_dir, key[:32])
    try:
        for name in _FILES:
            with atomic_path(contained(folder, name), suffix=Path(name).suffix) as tmp:
                shutil.copyfile(run_dir / name, tmp)
        folders = sorted(
            (p for p in cache_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime_ns
        )
        for old in folders[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        log.warning("rendered report not kept for reuse: %s", exc)
