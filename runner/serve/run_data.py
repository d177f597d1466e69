"""Read-only loaders for a run's sample-level files: ``embeddings.csv`` and ``projection.npz``.

``embeddings.csv`` is Lightly's format (``filenames,embedding_0..,labels``, every candidate);
``projection.npz`` holds ``keys`` (N,) and ``xy`` (N, 2), the 2-D map of the candidates. Both
are optional for the viewer: a missing or malformed file means "no neighbours" or "no map".
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EMBEDDINGS_FILE = "embeddings.csv"
PROJECTION_FILE = "projection.npz"
_BATCH_ROWS = 2048


def file_version(path: Path) -> tuple[str, int, int] | None:
    """``(path, size, mtime_ns)`` as a cache key, or ``None`` if the file is missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Embeddings:
    """Every candidate's embedding, for nearest-neighbour look-ups.

    Attributes:
        keys: Sample keys, in file order.
        position: Key -> row.
        matrix: (N, D) float32 embeddings.
        sq_norms: (N,) squared row norms, for fast Euclidean distances.
    """

    keys: list[str]
    position: dict[str, int]
    matrix: np.ndarray
    sq_norms: np.ndarray

    @property
    def nbytes(self) -> int:
        """Approximate memory footprint."""
        return int(self.matrix.nbytes + self.sq_norms.nbytes + 120 * len(self.keys))

    def nearest(self, key: str, k: int) -> list[tuple[str, float]] | None:
        """The ``k`` nearest other samples by Euclidean distance, closest first.

        Args:
            key: A sample key.
            k: How many neighbours.

        Returns:
            ``(key, distance)`` pairs, or ``None`` if ``key`` has no embedding.
        """
        row = self.position.get(key)
        if row is None:
            return None
        query = self.matrix[row]  # (D,)
        sq_dist = self.sq_norms - 2.0 * (self.matrix @ query) + self.sq_norms[row]  # (N,)
        sq_dist[row] = np.inf
        count = min(k, len(self.keys) - 1)
        if count <= 0:
            return []
        nearest = np.argpartition(sq_dist, count - 1)[:count]
        nearest = nearest[np.argsort(sq_dist[nearest], kind="stable")]
        distances = np.sqrt(np.maximum(sq_dist[nearest], 0.0))
        return [(self.keys[i], float(d)) for i, d in zip(nearest, distances, strict=True)]


def _rows(path: Path) -> Iterator[list[str]]:
    """CSV rows after the header (``csv`` handles quoted names with commas)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        yield from reader


def _dimension(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if len(header) < 2 or header[0] != "filenames":
        raise ValueError(f"{path} is not a Lightly embeddings.csv")
    return len(header) - 2 if header[-1] == "labels" else len(header) - 1


def load_embeddings(path: Path) -> Embeddings:
    """Parse ``embeddings.csv`` into a float32 matrix, in batches (no per-value Python floats).

    Raises:
        ValueError, OSError: the file is missing or not in Lightly's format.
    """
    dim = _dimension(path)
    keys: list[str] = []
    blocks: list[np.ndarray] = []
    batch: list[list[str]] = []
    for row in _rows(path):
        keys.append(row[0])
        batch.append(row[1 : dim + 1])
        if len(batch) == _BATCH_ROWS:
            blocks.append(np.array(batch, dtype=np.float32))
            batch = []
    if batch:
        blocks.append(np.array(batch, dtype=np.float32))
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    if matrix.shape != (len(keys), dim):
        raise ValueError(f"{path}: rows of unequal length")
    sq_norms = np.einsum("ij,ij->i", matrix, matrix)
    return Embeddings(keys, {k: i for i, k in enumerate(keys)}, matrix, sq_norms)


def read_embedding_keys(path: Path) -> list[str]:
    """Only the ``filenames`` column of ``embeddings.csv`` (all candidates of the run)."""
    return [row[0] for row in _rows(path) if row]


@dataclass(frozen=True)
class Projection:
    """The run's 2-D map of candidates.

    Attributes:
        keys: Sample keys (N,).
        xy: (N, 2) float32 coordinates.
        position: Key -> row.
    """

    keys: list[str]
    xy: np.ndarray
    position: dict[str, int]

    @property
    def nbytes(self) -> int:
        """Approximate memory footprint."""
        return int(self.xy.nbytes + 100 * len(self.keys))


def load_projection(path: Path) -> Projection | None:
    """Read ``projection.npz`` (no pickles); ``None`` when absent or malformed."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, xy = data["keys"], data["xy"]
    except (OSError, KeyError, ValueError):
        return None
    if keys.ndim != 1 or xy.shape != (len(keys), 2) or keys.dtype.kind not in "US":
        return None
    names = [os.fsdecode(k) if isinstance(k, bytes) else str(k) for k in keys.tolist()]
    if not np.isfinite(xy).all():
        return None
    return Projection(names, np.asarray(xy, dtype=np.float32), {k: i for i, k in enumerate(names)})
