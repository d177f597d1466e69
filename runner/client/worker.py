"""The local worker: runs scheduled jobs one at a time in a background thread of this process.

Lightly's ``schedule_compute_worker_run`` returns at once and a separately started Lightly
Worker picks the job up; scripts then poll the run's state. Here the worker is a thread of the
script's own process, started on demand: a job waits ``OPEN`` in its queue (higher priority
first, then first come), runs with the states of :mod:`runner.client.states`, and the thread
ends when the queue is empty. It is not a daemon, so a script that schedules and exits without
monitoring still finishes its runs before the interpreter exits, as a Lightly Worker would.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from runner.client.states import (
    STAGE_STATES,
    DockerRunScheduledPriority,
    DockerRunScheduledState,
    DockerRunState,
)
from runner.errors import UserError
from runner.progress import NO_PROGRESS, Progress, StageProgress

log = logging.getLogger(__name__)

_PRIORITY_ORDER = {p: i for i, p in enumerate(reversed(DockerRunScheduledPriority))}

Job = Callable[[Progress], Path]
"""Runs the pipeline with the given progress; returns the published run directory."""


@dataclass
class ScheduledRun:
    """One scheduled job and its run's live state (Lightly's ``DockerRunScheduledData`` plus
    the run's state and message)."""

    id: str
    dataset_id: str | None
    runs_dir: Path
    priority: DockerRunScheduledPriority
    runs_on: list[str]
    job: Job
    progress: Progress = NO_PROGRESS  # who shows the stages (the console, or nobody)
    created_at: int = field(default_factory=lambda: int(time.time() * 1000))
    state: DockerRunScheduledState = DockerRunScheduledState.OPEN
    run_state: DockerRunState | None = None
    message: str = "Waiting for pickup by the local worker."
    last_modified_at: int = 0
    order: int = 0
    history: list[tuple[DockerRunState, str]] = field(default_factory=list)
    """Every (state, message) the run went through, in order: a monitor that polls less often
    than a short stage lasts still sees each state once."""

    def update(self, run_state: DockerRunState, message: str) -> None:
        self.run_state, self.message = run_state, message
        self.last_modified_at = int(time.time() * 1000)
        self.history.append((run_state, message))  # appends are atomic under the GIL


class LocalWorker:
    """The queue of scheduled runs of this process and the thread that runs them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, ScheduledRun] = {}
        self._thread: threading.Thread | None = None
        self._counter = itertools.count()

    def submit(self, scheduled: ScheduledRun) -> None:
        """Queue a run (``OPEN``) and make sure the worker thread is running."""
        with self._lock:
            scheduled.order = next(self._counter)
            scheduled.last_modified_at = scheduled.created_at
            self._runs[scheduled.id] = scheduled
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="lightly-runner-worker", daemon=False
                )
                self._thread.start()

    def get(self, scheduled_id: str) -> ScheduledRun | None:
        with self._lock:
            return self._runs.get(scheduled_id)

    def scheduled(self) -> list[ScheduledRun]:
        """Every run scheduled in this process, in scheduling order."""
        with self._lock:
            return sorted(self._runs.values(), key=lambda r: r.order)

    def cancel(self, scheduled_id: str) -> bool:
        """Cancel a run still waiting (``OPEN``); True if it was canceled."""
        with self._lock:
            run = self._runs.get(scheduled_id)
            if run is None or run.state is not DockerRunScheduledState.OPEN:
                return False
            run.state = DockerRunScheduledState.CANCELED
            return True

    def wait(self, scheduled_id: str, poll_s: float = 0.05) -> None:
        """Block until the run is no longer open or running."""
        while (run := self.get(scheduled_id)) is not None and run.state in (
            DockerRunScheduledState.OPEN,
            DockerRunScheduledState.LOCKED,
        ):
            time.sleep(poll_s)

    def _next(self) -> ScheduledRun | None:
        with self._lock:
            waiting = [r for r in self._runs.values() if r.state is DockerRunScheduledState.OPEN]
            if not waiting:
                self._thread = None
                return None
            run = min(waiting, key=lambda r: (_PRIORITY_ORDER[r.priority], r.order))
            run.state = DockerRunScheduledState.LOCKED
            run.update(DockerRunState.STARTED, "Picked up by the local worker.")
            return run

    def _work(self) -> None:
        while (run := self._next()) is not None:
            _execute(run)


def _execute(run: ScheduledRun) -> None:
    """Run one job, recording its states; every outcome ends in a Lightly end state."""
    run.update(DockerRunState.INITIALIZING, "Checking the config and the datasources.")
    try:
        run_dir = run.job(_StateProgress(run))
    except UserError as err:
        run.update(DockerRunState.FAILED, str(err))
    except BaseException as exc:  # the worker thread must record every end
        log.exception("run %s crashed", run.id)
        run.update(DockerRunState.CRASHED, f"{type(exc).__name__}: {exc}")
    else:
        run.update(DockerRunState.COMPLETED, f"Run completed: {run_dir}")
    run.state = DockerRunScheduledState.DONE


class _StateProgress:
    """Progress that records each stage as the run's Lightly state, then shows it as before."""

    def __init__(self, run: ScheduledRun) -> None:
        self._run = run

    def stage(self, name: str) -> AbstractContextManager[StageProgress]:
        state = STAGE_STATES.get(name)
        if state is not None:
            self._run.update(state, f"stage {name}")
        return self._run.progress.stage(name)


WORKER = LocalWorker()
"""The one local worker of this process (a Lightly Worker serves every client of a user)."""
