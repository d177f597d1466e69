"""Model inputs decoded by the inspection, kept on disk until the embedding pass reads them.

The inspection decodes every new image once (corruptness verdict, hash, metrics, thumbnail);
the same decode also yields the model input, squash-resized to ``S x S`` RGB exactly as
:class:`runner.embedding.transforms.Preprocess` would. :class:`SpoolWriter` stores each input
as ``S * S * 3`` bytes at its slot of one file (``os.pwrite``: no copy stays in memory, so host
memory does not grow with the number of images); the embedding workers read their slot back
(``os.pread``) instead of decoding the file again. The spool file is deleted when the run's
embedding is done; a spool left by a killed process is removed by the next run.

A spool is only made while it fits a disk budget (:data:`MAX_SPOOL_BYTES`, and half the free
space); otherwise the embedding pass decodes the files itself, which gives the same pixels
because both decode with :data:`SHARED_DRAFT`.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from runner.write_paths import contained

log = logging.getLogger(__name__)

SHARED_DRAFT = 512
"""JPEG draft target (px a side) of a decode that feeds several consumers: the pixel metrics'
sample (``runner.decode.metrics.MAX_SIDE``), the Lightly thumbnail and model inputs up to this
size all come from one decode at this size, and a later decode of the same file for the model
alone uses it too, so both give the same pixels."""

MAX_SPOOL_BYTES = 16 * 2**30
"""Largest spool made; beyond it the embedding pass decodes the files itself."""


def model_pixels(image: Image.Image, size: int) -> np.ndarray:
    """An upright RGB image squash-resized to the model input. Returns (S, S, 3) uint8.

    PIL's BILINEAR widens its filter when shrinking, i.e. it antialiases (Lightly's
    ``Resize((S, S))`` on a PIL image does the same).
    """
    resized = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


@dataclass(frozen=True)
class InputSpool:
    """A finished spool: where each content's model input lies. Picklable for workers.

    Attributes:
        path: The spool file.
        size: Model input side ``S``.
        slots: Content hash -> slot index (the record at ``slot * S * S * 3``).
    """

    path: Path
    size: int
    slots: dict[str, int] = field(default_factory=dict)

    def read(self, digest: str) -> np.ndarray | None:
        """The model input of a content, or None when the spool lacks it. (S, S, 3) uint8."""
        slot = self.slots.get(digest)
        if slot is None:
            return None
        record = self.size * self.size * 3
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            data = os.pread(fd, record, slot * record)
        finally:
            os.close(fd)
        if len(data) != record:
            return None
        return np.frombuffer(data, dtype=np.uint8).reshape(self.size, self.size, 3)

    def remove(self) -> None:
        """Delete the spool file (the run's embedding is done)."""
        self.path.unlink(missing_ok=True)


class SpoolWriter:
    """Collects model inputs from the inspection's reader threads (thread-safe).

    Args:
        folder: The spool folder in the cache (``<cache>/spool``).
        size: Model input side ``S``.
    """

    def __init__(self, folder: Path, *, size: int) -> None:
        _remove_orphans(folder)
        self.size = size
        self.path = contained(folder, f"spool-{os.getpid()}-{secrets.token_hex(4)}.u8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._slots: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fits(folder: Path, *, size: int, count: int) -> bool:
        """Whether ``count`` inputs of side ``size`` fit the spool's disk budget."""
        if size > SHARED_DRAFT or count == 0:
            return False
        need = count * size * size * 3
        probe = folder
        while not probe.exists():
            probe = probe.parent
        return need <= min(MAX_SPOOL_BYTES, shutil.disk_usage(probe).free // 2)

    def put(self, digest: str, image: Image.Image) -> None:
        """Store the model input of an upright RGB image (the first one per content)."""
        with self._lock:
            if digest in self._slots:
                return
            slot = self._slots[digest] = len(self._slots)
        pixels = model_pixels(image, self.size)  # (S, S, 3) uint8
        try:
            os.pwrite(self._fd, pixels.tobytes(), slot * pixels.nbytes)
        except OSError as exc:  # e.g. disk full: the embedding pass decodes this one itself
            log.warning("model input not spooled (%s)", exc)
            with self._lock:
                del self._slots[digest]

    def finish(self) -> InputSpool:
        """Close the file; the spool is ready to read."""
        os.close(self._fd)
        return InputSpool(self.path, self.size, dict(self._slots))


def _remove_orphans(folder: Path) -> None:
    """Delete spools whose process is gone (a run killed before its embedding finished)."""
    for path in folder.glob("spool-*.u8"):
        pid = path.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
