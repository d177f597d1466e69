"""The run directory ``<lightly datasource>/.lightly/runs/<run id>/``, created atomically.

Files are written into ``runs/.<run id>.partial/`` while the run is going; the finished folder
is renamed to ``runs/<run id>/`` and ``runs/latest`` is pointed at it. A failed run is renamed
to ``runs/<run id>-failed/`` so its ``log.txt`` is kept for debugging but nothing reads it as a
result.

A partial folder holds a lock file, ``.owner.json``, with the pid, host name and start time of
the process writing it. A run killed before its rename leaves the partial folder behind; the
next run on the same Lightly datasource removes every partial folder whose owner is gone (same
host, pid not running or running a different process). Folders owned by a live process, by
another host, or without a lock file younger than an hour are left alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner.atomic import atomic_write_json
from runner.write_paths import contained

log = logging.getLogger(__name__)

LATEST = "latest"
LOCK_FILE = ".owner.json"
PARTIAL_SUFFIX = ".partial"
# A partial folder without a lock file (the run died between mkdir and the lock write, or an
# older version wrote it) is removed once it is this old.
UNLOCKED_GRACE_S = 3600.0


RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
"""What :func:`new_run_id` makes (the names of finished run folders)."""


def finished_run_ids(runs_dir: Path) -> list[str]:
    """The ids of the published runs in ``runs_dir``, oldest first.

    An id orders runs by the second it was made in; runs of the same second (the client
    schedules several at once) are ordered by when their ``report.json`` was written, not by
    the random suffix of their ids.
    """
    if not runs_dir.is_dir():
        return []
    runs = [p for p in runs_dir.iterdir() if RUN_ID.match(p.name) and not p.is_symlink()]
    return [p.name for p in sorted(runs, key=_age)]


def _age(run: Path) -> tuple[str, int, str]:
    """Sort key: the id's second, then when the run wrote its report, then the id."""
    try:
        written = (run / "report.json").stat().st_mtime_ns
    except OSError:
        written = 0
    return run.name[:15], written, run.name


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, readable, unique id: ``20261124-214501-3fa2c1``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Owner:
    """The process that writes a partial run folder."""

    pid: int
    hostname: str
    start: str | None  # the process start time from /proc (guards against pid reuse)

    @classmethod
    def this_process(cls) -> Owner:
        return cls(os.getpid(), socket.gethostname(), process_start(os.getpid()))

    def is_gone(self) -> bool:
        """True only when the owner surely runs no more: same host, and no such process."""
        if self.hostname != socket.gethostname():
            return False
        if not pid_running(self.pid):
            return True
        return self.start is not None and process_start(self.pid) not in (None, self.start)


def pid_running(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat(5)


def read_owner(partial: Path) -> Owner | None:
    """The owner recorded in a partial folder's lock file, or None if there is none."""
    try:
        raw = json.loads((partial / LOCK_FILE).read_text(encoding="utf-8"))
        return Owner(int(raw["pid"]), str(raw["hostname"]), raw.get("start"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_stale_partials(runs_dir: Path, *, now: float | None = None) -> list[str]:
    """Delete the partial run folders whose owner process is gone; return their names."""
    removed: list[str] = []
    if not runs_dir.is_dir():
        return removed
    for entry in sorted(runs_dir.iterdir()):
        name = entry.name
        if not (name.startswith(".") and name.endswith(PARTIAL_SUFFIX)):
            continue
        if entry.is_symlink() or not entry.is_dir():
            continue
        owner = read_owner(entry)
        if owner is None:
            age = (now or time.time()) - entry.stat().st_mtime
            if age < UNLOCKED_GRACE_S:
                continue
        elif not owner.is_gone():
            continue
        shutil.rmtree(contained(runs_dir, name))  # rmtree never follows symlinks inside
        removed.append(name)
        log.info(
            "removed %s: left by a run that is gone (%s)",
            entry,
            f"pid {owner.pid} on {owner.hostname}" if owner else "no lock file",
        )
    return removed


class RunDirectory:
    """Owns one run's folder from creation to the final rename."""

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        self.runs_dir = runs_dir
        self.run_id = run_id
        self.path = contained(runs_dir, f".{run_id}{PARTIAL_SUFFIX}")
        self.final_path = contained(runs_dir, run_id)

    @classmethod
    def create(cls, runs_dir: Path, run_id: str | None = None) -> RunDirectory:
        """Remove partial folders of dead runs, then make this run's, locked by this process.

        Args:
            runs_dir: ``.lightly/runs``.
            run_id: The id to use (the Python API's scheduled run id, made by
                :func:`new_run_id`), or None for a new one.

        Raises:
            FileExistsError: ``run_id`` is given and already used in ``runs_dir``.
        """
        runs_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(runs_dir)
        owner = Owner.this_process()
        while True:
            run_dir = cls(runs_dir, run_id or new_run_id())
            try:
                run_dir.path.mkdir()
            except FileExistsError:
                if run_id:
                    raise
                continue
            if run_id and run_dir.final_path.exists():
                run_dir.path.rmdir()
                raise FileExistsError(f"run {run_id} exists already in {runs_dir}")
            if not run_dir.final_path.exists():
                atomic_write_json(
                    contained(run_dir.path, LOCK_FILE),
                    {"pid": owner.pid, "hostname": owner.hostname, "start": owner.start},
                )
                return run_dir

    def finish(self) -> Path:
        """Publish the run: rename into place and point ``runs/latest`` at it."""
        os.replace(self.path, self.final_path)
        contained(self.final_path, LOCK_FILE).unlink(missing_ok=True)
        link_tmp = contained(self.runs_dir, f".{LATEST}.{self.run_id}.tmp")
        link_tmp.unlink(missing_ok=True)
        os.symlink(self.run_id, link_tmp)
        os.replace(link_tmp, contained(self.runs_dir, LATEST))
        return self.final_path

    def fail(self) -> Path:
        """Keep what a failed run wrote, under a name nothing mistakes for a result."""
        failed = contained(self.runs_dir, f"{self.run_id}-failed")
        if self.path.exists():
            os.replace(self.path, failed)
            contained(failed, LOCK_FILE).unlink(missing_ok=True)
        return failed
