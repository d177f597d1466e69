"""Per-stage timing, progress and the run's ``log.txt``: seconds per stage in report.json.

Each stage's start and end are logged (to ``log.txt``; the console shows the stage's progress
instead, see :mod:`runner.console`), and the stage gets the reporter's
:class:`~runner.progress.StageProgress` to report its work on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.progress import NO_PROGRESS, Progress, StageProgress

log = logging.getLogger("runner.pipeline")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

STAGE_RECORD = "lightly_runner_stage"
"""Attribute of the log records of stage starts and ends (the console hides them)."""


class StageClock:
    """Measures wall time per stage, logs its start and end, and shows its progress.

    Args:
        progress: Who shows the stages' progress (nobody by default).
    """

    def __init__(self, progress: Progress = NO_PROGRESS) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[StageProgress]:
        """Time one stage; yields the progress the stage reports its work on."""
        start = time.perf_counter()
        log.info("stage %s: started", name, extra={STAGE_RECORD: name})
        with self.progress.stage(name) as progress:
            yield progress
        self.timings[name] = round(time.perf_counter() - start, 4)
        log.info("stage %s: done in %.2f s", name, self.timings[name], extra={STAGE_RECORD: name})


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Copy every INFO-or-higher record of the ``runner`` loggers (and Lightning's warnings) to
    ``path``, whoever configured logging (the CLI, an API user, nobody)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger("runner"), logging.getLogger("lightning")]
    runner_log = loggers[0]
    # Unconfigured, "runner" inherits the root's WARNING and the file would get no info lines.
    level = runner_log.level
    if level == logging.NOTSET or level > logging.INFO:
        runner_log.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        runner_log.setLevel(level)
        handler.close()
