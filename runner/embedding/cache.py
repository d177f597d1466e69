"""The embedding cache: one file per model fingerprint, rows keyed by file content hash.

``<cache_dir>/<fingerprint[:16]>.npz`` holds ``hashes`` (M,) sorted unicode sha256 hex digests
and ``embeddings`` (M, D) float16. A file's rows are reused whenever its bytes and the model
(fingerprint) are unchanged, whatever its name, folder or mtime.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runner.atomic import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheTable:
    """Cached rows: ``hashes`` (M,) sorted ascending, ``embeddings`` (M, D) float16."""

    hashes: np.ndarray
    embeddings: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> CacheTable:
        """A table with no rows."""
        return cls(np.zeros(0, dtype=np.str_), np.zeros((0, dim), dtype=np.float16))

    def lookup(self, hashes: list[str]) -> np.ndarray:
        """Row index of each hash, -1 where it is not cached. Returns (Q,) int64."""
        query = np.asarray(hashes, dtype=np.str_)  # (Q,)
        if len(self.hashes) == 0:
            return np.full(len(query), -1, dtype=np.int64)
        rows = np.searchsorted(self.hashes, query)  # (Q,)
        clipped = np.minimum(rows, len(self.hashes) - 1)
        return np.where(self.hashes[clipped] == query, clipped, -1).astype(np.int64)

    def merged(self, hashes: list[str], embeddings: np.ndarray) -> CacheTable:
        """A new table with rows added (``embeddings`` (K, D), any float dtype), sorted again.

        Hashes already present keep their existing row, so cached values never change.
        """
        new = self.lookup(hashes) < 0  # (K,)
        all_hashes = np.concatenate([self.hashes, np.asarray(hashes, dtype=np.str_)[new]])
        all_rows = np.concatenate([self.embeddings, embeddings[new].astype(np.float16)])
        order = np.argsort(all_hashes, kind="stable")
        return CacheTable(all_hashes[order], all_rows[order])


def load_cache(path: Path, *, dim: int) -> CacheTable:
    """Read the cache file, or an empty table if it is missing or unreadable (a cache is
    never worth failing a run for)."""
    if not path.is_file():
        return CacheTable.empty(dim)
    try:
        with np.load(path, allow_pickle=False) as data:
            hashes = np.asarray(data["hashes"])
            embeddings = np.asarray(data["embeddings"], dtype=np.float16)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable embedding cache %s (%s)", path, exc)
        return CacheTable.empty(dim)
    if embeddings.shape != (len(hashes), dim) or hashes.dtype.kind != "U":
        log.warning("ignoring embedding cache %s: unexpected shapes", path)
        return CacheTable.empty(dim)
    if len(hashes) > 1 and not bool(np.all(hashes[1:] > hashes[:-1])):
        order = np.argsort(hashes, kind="stable")
        hashes, embeddings = hashes[order], embeddings[order]
    return CacheTable(hashes, embeddings)


def save_cache(path: Path, table: CacheTable) -> None:
    """Write the table atomically: a temp file in the same folder, then ``os.replace``."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, hashes=table.hashes, embeddings=table.embeddings)
