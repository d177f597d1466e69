"""Per-stage timing and the run's ``log.txt``: one log line per stage, seconds in report.json."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("runner.pipeline")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class StageClock:
    """Measures wall time per stage and logs when each one ends."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        log.info("stage %s: started", name)
        yield
        self.timings[name] = round(time.perf_counter() - start, 4)
        log.info("stage %s: done in %.2f s", name, self.timings[name])


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Copy every record of the ``runner`` loggers (and Lightning's warnings) to ``path``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger("runner"), logging.getLogger("lightning")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()
