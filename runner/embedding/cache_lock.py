"""A cross-process lock around computing one embedding cache entry.

Jobs of a parallel sweep (Hydra's joblib or submitit launcher) that embed the same data with
the same model share one cache entry. Without a lock each would find it empty, embed every
sample and overwrite the others' file: the work done N times. With it, the first job embeds
and writes while the others wait, then read the entry it wrote and embed only what is still
missing (nothing, for the same data). Writes stay atomic (temp file, then rename), so a reader
never sees a torn file either way.

The lock is ``flock(2)`` on a small file beside the entry: released by the kernel when the
process dies (a killed job never leaves a stale lock), and honoured across machines on NFSv4
shares, where Linux maps it to byte-range locks (SLURM jobs on a shared datasource).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def cache_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if needed) for the block.

    Logs one line when another process holds it, then waits for it.

    Args:
        lock_file: The lock's file, from :func:`runner.write_paths.contained`; its folder is
            created if missing. The file stays (empty) after the block.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another run computing the same embeddings (%s)", lock_file)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
