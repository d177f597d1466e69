"""The embedding cache: rows keyed by file content hash, one folder per model fingerprint.

Layout (``cache_dir`` is ``<Lightly datasource>/.lightly/cache/embeddings``)::

    <cache_dir>/<fingerprint[:16]>/shard-<writer>-<seq>.rows.npy    (K, D) float16
    <cache_dir>/<fingerprint[:16]>/shard-<writer>-<seq>.hashes.npy  (K,) S32 raw sha256

A shard is written as batches complete (at most :data:`SHARD_ROWS` rows): its rows file first,
then its hashes file, each under a temp name and renamed. The hashes file commits the shard, so
a process killed at any moment loses at most the shard it was filling; a rows file without its
hashes file is ignored. Shards are never rewritten: a later run, another rank or a concurrent
job only adds shards, so readers need no lock. When two shards hold the same content, the shard
whose name sorts first wins (on the CPU both rows are equal anyway).

Reading: :meth:`EmbeddingCache.open` loads every shard's hashes (32 bytes a row) and
memory-maps the rows; :meth:`EmbeddingCache.gather` copies the rows of one run, in its order,
into a single float16 memory map, the one copy selection reads.

Writing: :class:`ShardSink` (one per process: ``writer`` names it uniquely, e.g. with the rank)
buffers rows and commits a shard every :data:`SHARD_ROWS` rows and on :meth:`ShardSink.close`.

Older versions kept one ``<fingerprint[:16]>.npz`` per model; it is ignored (its rows are
embedded again once).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runner.atomic import atomic_path
from runner.write_paths import contained

log = logging.getLogger(__name__)

SHARD_ROWS = 1024
"""Most rows in one shard: what a kill can lose at worst."""

_HASH = np.dtype("S32")


def digests(hashes: Sequence[str]) -> np.ndarray:
    """sha256 hex strings as raw 32-byte keys. (Q,) str -> (Q,) S32."""
    return np.array([bytes.fromhex(h) for h in hashes], dtype=_HASH)


def shard_folder(cache_dir: Path, fingerprint: str) -> Path:
    """The folder of one model's shards."""
    return contained(cache_dir, fingerprint[:16])


@dataclass(frozen=True)
class EmbeddingCache:
    """Every committed shard of one model, indexed by content hash.

    Attributes:
        folder: The model's shard folder.
        dim: Embedding width ``D``.
        hashes: (M,) S32, sorted: every cached content.
        shard_of: (M,) int32, which of ``rows`` holds each hash.
        row_of: (M,) int64, the row inside that shard.
        rows: Memory-mapped (K_i, D) float16 rows of each shard.
    """

    folder: Path
    dim: int
    hashes: np.ndarray
    shard_of: np.ndarray
    row_of: np.ndarray
    rows: tuple[np.ndarray, ...]

    @classmethod
    def open(cls, folder: Path, *, dim: int) -> EmbeddingCache:
        """Index the committed shards in ``folder`` (missing folder: empty cache).

        An unreadable or misshapen shard is skipped with a warning: a cache is never worth
        failing a run for.
        """
        keys: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        for hashes_file in sorted(folder.glob("shard-*.hashes.npy")):
            rows_file = hashes_file.with_name(hashes_file.name[: -len(".hashes.npy")] + ".rows.npy")
            try:
                hashes = np.load(hashes_file, allow_pickle=False)
                matrix = np.load(rows_file, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable embedding shard %s (%s)", hashes_file, exc)
                continue
            if (
                hashes.dtype != _HASH
                or matrix.dtype != np.float16
                or matrix.shape
                != (
                    len(hashes),
                    dim,
                )
            ):
                log.warning("ignoring embedding shard %s: unexpected shapes", hashes_file)
                continue
            keys.append(hashes)
            rows.append(matrix)
        if not keys:
            empty = np.zeros(0, dtype=np.int64)
            return cls(folder, dim, np.zeros(0, dtype=_HASH), empty.astype(np.int32), empty, ())
        all_hashes = np.concatenate(keys)  # (M',)
        shard_of = np.concatenate([np.full(len(k), i, dtype=np.int32) for i, k in enumerate(keys)])
        row_of = np.concatenate([np.arange(len(k), dtype=np.int64) for k in keys])
        # Stable sort then first of each run: the first shard by name wins a duplicate.
        order = np.argsort(all_hashes, kind="stable")
        sorted_hashes = all_hashes[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_hashes[1:] != sorted_hashes[:-1]
        keep = order[first]
        return cls(folder, dim, all_hashes[keep], shard_of[keep], row_of[keep], tuple(rows))

    def lookup(self, hashes: Sequence[str]) -> np.ndarray:
        """Index into :attr:`hashes` of each content, -1 where it is not cached. (Q,) int64."""
        query = digests(hashes)  # (Q,)
        if len(self.hashes) == 0:
            return np.full(len(query), -1, dtype=np.int64)
        at = np.searchsorted(self.hashes, query)  # (Q,)
        clipped = np.minimum(at, len(self.hashes) - 1)
        return np.where(self.hashes[clipped] == query, clipped, -1).astype(np.int64)

    def gather(self, hashes: Sequence[str]) -> np.ndarray:
        """The rows of ``hashes`` in their order, as one read-only float16 memory map.

        The map's file is created in :attr:`folder` and unlinked at once: it lives as long
        as the array and never shows up in the cache.

        Raises:
            KeyError: A content is not cached.
        """
        found = self.lookup(hashes)  # (N,)
        if (found < 0).any():
            missing = hashes[int(np.flatnonzero(found < 0)[0])]
            raise KeyError(f"content {missing} is not in the embedding cache")
        if len(hashes) == 0:
            return np.zeros((0, self.dim), dtype=np.float16)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".gather-", suffix=".npy", dir=self.folder)
        os.close(fd)
        try:
            shape = (len(hashes), self.dim)
            out = np.lib.format.open_memmap(name, mode="w+", dtype=np.float16, shape=shape)
            shards, rows = self.shard_of[found], self.row_of[found]  # (N,), (N,)
            for shard in np.unique(shards):
                at = np.flatnonzero(shards == shard)  # output rows served by this shard
                out[at] = self.rows[int(shard)][rows[at]]
            out.flush()
            del out
            mapped: np.ndarray = np.load(name, mmap_mode="r", allow_pickle=False)
        finally:
            Path(name).unlink(missing_ok=True)
        return mapped


class ShardSink:
    """Buffers ``(content hash, row)`` pairs of one process and commits them as shards.

    Args:
        folder: The model's shard folder (created when the first shard is written).
        writer: Unique name of this process's shards (e.g. a random token plus the rank), so
            processes and concurrent jobs never write the same file.
        rows_per_shard: Rows that make a shard (default :data:`SHARD_ROWS`, read when the
            sink is made).
    """

    def __init__(self, folder: Path, *, writer: str, rows_per_shard: int | None = None) -> None:
        self.folder = folder
        self.writer = writer
        self.rows_per_shard = rows_per_shard or SHARD_ROWS
        self.written = 0
        self._hashes: list[str] = []
        self._rows: list[np.ndarray] = []
        self._buffered = 0
        self._seq = 0

    def add(self, hashes: Sequence[str], rows: np.ndarray) -> None:
        """Take rows (``(B, D)``, any float dtype, stored as float16) of ``hashes``."""
        self._hashes.extend(hashes)
        self._rows.append(np.asarray(rows, dtype=np.float16))
        self._buffered += len(hashes)
        if self._buffered >= self.rows_per_shard:
            self.flush()

    def flush(self) -> None:
        """Commit what is buffered as one shard (nothing when empty)."""
        if not self._hashes:
            return
        stem = f"shard-{self.writer}-{self._seq:06d}"
        with atomic_path(contained(self.folder, f"{stem}.rows.npy"), suffix=".npy") as tmp:
            np.save(tmp, np.concatenate(self._rows))
        with atomic_path(contained(self.folder, f"{stem}.hashes.npy"), suffix=".npy") as tmp:
            np.save(tmp, digests(self._hashes))  # the commit: the shard exists from now on
        self.written += len(self._hashes)
        self._seq += 1
        self._hashes, self._rows, self._buffered = [], [], 0

    def close(self) -> None:
        """Commit the last partial shard."""
        self.flush()


__all__ = ["SHARD_ROWS", "EmbeddingCache", "ShardSink", "digests", "shard_folder"]
