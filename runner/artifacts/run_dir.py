"""The run directory ``<lightly datasource>/.lightly/runs/<run id>/``, created atomically.

Files are written into ``runs/.<run id>.partial/`` while the run is going; the finished folder
is renamed to ``runs/<run id>/`` and ``runs/latest`` is pointed at it. A failed run is renamed
to ``runs/<run id>-failed/`` so its ``log.txt`` is kept for debugging but nothing reads it as a
result.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

LATEST = "latest"


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, readable, unique id: ``20261124-214501-3fa2c1``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


class RunDirectory:
    """Owns one run's folder from creation to the final rename."""

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        self.runs_dir = runs_dir
        self.run_id = run_id
        self.path = runs_dir / f".{run_id}.partial"
        self.final_path = runs_dir / run_id

    @classmethod
    def create(cls, runs_dir: Path) -> RunDirectory:
        runs_dir.mkdir(parents=True, exist_ok=True)
        while True:
            run_dir = cls(runs_dir, new_run_id())
            try:
                run_dir.path.mkdir()
            except FileExistsError:
                continue
            if not run_dir.final_path.exists():
                return run_dir

    def finish(self) -> Path:
        """Publish the run: rename into place and point ``runs/latest`` at it."""
        os.replace(self.path, self.final_path)
        link_tmp = self.runs_dir / f".{LATEST}.{self.run_id}.tmp"
        link_tmp.unlink(missing_ok=True)
        os.symlink(self.run_id, link_tmp)
        os.replace(link_tmp, self.runs_dir / LATEST)
        return self.final_path

    def fail(self) -> Path:
        """Keep what a failed run wrote, under a name nothing mistakes for a result."""
        failed = self.runs_dir / f"{self.run_id}-failed"
        if self.path.exists():
            os.replace(self.path, failed)
        return failed
