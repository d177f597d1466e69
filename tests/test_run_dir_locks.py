"""Partial run folders of killed runs are removed by the next run; live ones never are."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from runner.artifacts.run_dir import LOCK_FILE, RunDirectory, process_start


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _partial(runs: Path, run_id: str, owner: dict[str, object] | None) -> Path:
    folder = runs / f".{run_id}.partial"
    folder.mkdir(parents=True)
    (folder / "log.txt").write_text("half a run")
    if owner is not None:
        (folder / LOCK_FILE).write_text(json.dumps(owner))
    return folder


def test_partials_of_dead_runs_go_and_live_ones_stay(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    host = socket.gethostname()
    me = {"pid": os.getpid(), "hostname": host, "start": process_start(os.getpid())}
    dead = _partial(runs, "20260101-000000-dead00", {"pid": _dead_pid(), "hostname": host})
    reused = _partial(runs, "20260101-000000-reuse0", {**me, "start": "1"})
    live = _partial(runs, "20260101-000000-live00", me)
    other_host = _partial(
        runs, "20260101-000000-other0", {"pid": _dead_pid(), "hostname": host + "-elsewhere"}
    )
    young_unlocked = _partial(runs, "20260101-000000-young0", None)
    old_unlocked = _partial(runs, "20260101-000000-old000", None)
    os.utime(old_unlocked, (1, 1))
    finished = runs / "20260101-000000-done00"
    finished.mkdir()
    run_dir = RunDirectory.create(runs)
    assert not dead.exists() and not reused.exists() and not old_unlocked.exists()
    assert live.exists() and other_host.exists() and young_unlocked.exists() and finished.exists()
    owner = json.loads((run_dir.path / LOCK_FILE).read_text())
    assert owner["pid"] == os.getpid() and owner["hostname"] == host


def test_a_partial_symlink_is_never_followed(tmp_path: Path) -> None:
    runs, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    runs.mkdir()
    (runs / ".20260101-000000-link00.partial").symlink_to(outside)
    RunDirectory.create(runs)
    assert (outside / "keep.txt").read_text() == "keep"


def test_finished_and_failed_runs_carry_no_lock(tmp_path: Path) -> None:
    done = RunDirectory.create(tmp_path)
    final = done.finish()
    assert not (final / LOCK_FILE).exists() and (tmp_path / "latest").resolve() == final
    failed = RunDirectory.create(tmp_path).fail()
    assert failed.is_dir() and not (failed / LOCK_FILE).exists()
