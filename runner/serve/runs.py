"""Find Lightly datasources, their runs and sweeps below the Lightly mount; summarise them.

A Lightly datasource is any folder with a ``.lightly/runs`` or ``.lightly/sweeps`` folder,
searched to a bounded depth (hidden folders and directory symlinks are not entered). A run is
addressed by its *ref*: ``<datasource path>/<run id>``, or just ``<run id>`` when the Lightly
mount itself is the datasource. Run ids never contain ``/``, so a ref splits unambiguously.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from omegaconf import OmegaConf

from runner.serve.paths import Roots, url_for

MAX_DEPTH = 4  # datasource folders are at most this deep below the Lightly mount
MAX_FOLDERS = 20_000  # stop searching after this many folders (huge trees stay fast)
MAX_SWEEP_FILES = 50
RUN_FILES = (
    "report.pdf",
    "report.html",
    "report.json",
    "selected_filenames.txt",
    "embeddings.csv",
    "log.txt",
    "config.yaml",
)


@dataclass(frozen=True)
class RunRef:
    """Where a run lives: its datasource (relative to the Lightly mount) and its id."""

    datasource: str
    run_id: str

    @property
    def ref(self) -> str:
        """``<datasource>/<run id>``, or the run id alone for the mount's own datasource."""
        return f"{self.datasource}/{self.run_id}" if self.datasource else self.run_id

    @classmethod
    def from_parts(cls, parts: tuple[str, ...]) -> RunRef | None:
        """From decoded, already-safe path segments (see ``paths.relative_parts``)."""
        if not parts:
            return None
        return cls("/".join(parts[:-1]), parts[-1])


def _lightly_dirs(folder: Path) -> bool:
    return (folder / ".lightly" / "runs").is_dir() or (folder / ".lightly" / "sweeps").is_dir()


def find_datasources(lightly_root: Path, max_depth: int = MAX_DEPTH) -> list[str]:
    """Relative POSIX paths (``""`` for the root) of every Lightly datasource, sorted.

    Args:
        lightly_root: The resolved Lightly mount.
        max_depth: How deep below the mount to look.
    """
    found: list[str] = []
    queue: deque[tuple[Path, int]] = deque([(lightly_root, 0)])
    visited = 0
    while queue and visited < MAX_FOLDERS:
        folder, depth = queue.popleft()
        visited += 1
        if _lightly_dirs(folder):
            relative = folder.relative_to(lightly_root).as_posix()
            found.append("" if relative == "." else relative)
        if depth == max_depth:
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                queue.append((Path(entry.path), depth + 1))
    return sorted(found)


def run_dir(lightly_root: Path, ref: RunRef) -> Path | None:
    """The run folder of ``ref``, if it exists inside the Lightly mount (``latest`` works)."""
    if ref.run_id.startswith("."):
        return None
    candidate = lightly_root / ref.datasource / ".lightly" / "runs" / ref.run_id
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(lightly_root) and resolved.is_dir() else None


def list_run_ids(datasource_dir: Path) -> list[str]:
    """Run folder names of a datasource, newest first (ids start with a timestamp)."""
    runs = datasource_dir / ".lightly" / "runs"
    try:
        entries = list(os.scandir(runs))
    except OSError:
        return []
    names = [
        e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
    ]
    return sorted(names, reverse=True)


def read_report(folder: Path) -> dict[str, Any] | None:
    """``report.json`` of a run folder, or ``None`` (missing, partial or not JSON)."""
    try:
        data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def viewer_url(ref: RunRef) -> str:
    """The run page's URL."""
    return "/_lightly/run.html?run=" + quote(ref.ref, safe="")


def _files(folder: Path, names: tuple[str, ...] | list[str], roots: Roots) -> dict[str, str]:
    prefix = url_for(folder, roots)
    if prefix is None:
        return {}
    return {name: f"{prefix}/{quote(name)}" for name in names if (folder / name).is_file()}


def _strategies(report: dict[str, Any]) -> list[str]:
    entries = report.get("selection", {}).get("strategies", []) or []
    return [
        f"{e.get('input', '?')}/{e.get('strategy', '?')}" for e in entries if isinstance(e, dict)
    ]


def run_summary(ref: RunRef, folder: Path, roots: Roots, *, latest: bool) -> dict[str, Any]:
    """What the runs list shows for one run (from ``report.json``; tolerant of gaps)."""
    report = read_report(folder) or {}
    selection = report.get("selection", {}) or {}
    return {
        "ref": ref.ref,
        "datasource": ref.datasource,
        "run_id": ref.run_id,
        "latest": latest,
        "has_report": bool(report),
        "state": report.get("state", "UNKNOWN" if report else "NO REPORT"),
        "started_at": report.get("started_at"),
        "finished_at": report.get("finished_at"),
        "duration_s": report.get("duration_s"),
        "dataset": report.get("dataset"),
        "counts": report.get("counts", {}),
        "selection": {
            "n_requested": selection.get("n_requested"),
            "n_selected": selection.get("n_selected"),
            "stopped_by": selection.get("stopped_by"),
            "notes": selection.get("notes", []),
            "strategies": _strategies(report),
        },
        "model": (report.get("model") or {}).get("name"),
        "files": _files(folder, RUN_FILES, roots),
        "viewer_url": viewer_url(ref),
    }


def _latest_id(datasource_dir: Path) -> str | None:
    link = datasource_dir / ".lightly" / "runs" / "latest"
    try:
        return os.readlink(link) if link.is_symlink() else None
    except OSError:
        return None


def sweep_summaries(datasource_dir: Path, roots: Roots) -> list[dict[str, Any]]:
    """The sweeps of a datasource, newest first: stamp, overrides and links to their files."""
    sweeps = datasource_dir / ".lightly" / "sweeps"
    try:
        stamps = sorted(
            (e.name for e in os.scandir(sweeps) if e.is_dir(follow_symlinks=False)),
            reverse=True,
        )
    except OSError:
        return []
    result = []
    for stamp in stamps:
        folder = sweeps / stamp
        names = sorted(e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False))[
            :MAX_SWEEP_FILES
        ]
        result.append(
            {
                "stamp": stamp,
                "overrides": _sweep_overrides(folder),
                "files": _files(folder, names, roots),
            }
        )
    return result


def _sweep_overrides(folder: Path) -> list[str]:
    """``hydra.overrides.task`` of the sweep's ``multirun.yaml`` (unresolved), if readable."""
    try:
        config = OmegaConf.load(folder / "multirun.yaml")
        task = OmegaConf.select(config, "hydra.overrides.task")
        values = OmegaConf.to_container(task, resolve=False) if task is not None else []
    except Exception:  # a broken or foreign YAML file must not break the runs list
        return []
    return [str(v) for v in values] if isinstance(values, list) else []


def list_all(roots: Roots) -> list[dict[str, Any]]:
    """Every datasource below the Lightly mount with its runs and sweeps."""
    result = []
    for datasource in find_datasources(roots.lightly):
        folder = roots.lightly / datasource
        latest = _latest_id(folder)
        runs = [
            run_summary(
                RunRef(datasource, run_id),
                folder / ".lightly" / "runs" / run_id,
                roots,
                latest=run_id == latest,
            )
            for run_id in list_run_ids(folder)
        ]
        result.append(
            {
                "datasource": datasource,
                "path": str(folder),
                "runs": runs,
                "sweeps": sweep_summaries(folder, roots),
            }
        )
    return result
