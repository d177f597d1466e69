"""Groups of nearby rows, each with a centre and a radius, for pruning by the triangle inequality.

A plain Lloyd's k-means (Lloyd 1982) on a fixed sample of the rows, then one assignment of
every row to its nearest centre; the radius of a group is the largest distance of a member to
its centre. Lazy engines keep bounds per group and skip a group when a query point is farther
from its centre than the radius plus the reach of the query. The partition only decides how
much work is skipped, never the result, so a few iterations on a sample are enough. Pure
NumPy with a fixed seed: the same rows give the same groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

_ITERATIONS = 4  # Lloyd iterations on the training sample
_TRAIN_PER_GROUP = 32  # rows of the training sample per group
_BLOCK = 4_096  # rows assigned at a time (a block of distances to every centre)


@dataclass(frozen=True)
class Partition:
    """Rows sorted by group, and each group's extent.

    Attributes:
        order: Row indices, group by group, ascending inside each group.  # (N,) int64
        starts: Offset of each group in ``order``, then N.  # (G + 1,) int64
        centres: The centre of each group.  # (G, D) float32
        radii: Largest distance of a member to its centre.  # (G,) float64
    """

    order: I64
    starts: I64
    centres: F32
    radii: npt.NDArray[np.float64]


def nearest(x: F32, centres: F32) -> I64:
    """Index of the nearest centre of every row (ties: the lowest), block by block.  # (N,)"""
    c_sq = np.einsum("gd,gd->g", centres, centres)  # (G,)
    labels = np.empty(x.shape[0], dtype=np.int64)
    for start in range(0, x.shape[0], _BLOCK):
        block = x[start : start + _BLOCK]
        d2 = block @ centres.T  # (b, G): |c|^2 - 2 x.c ranks like |x - c|^2
        d2 *= np.float32(-2.0)
        d2 += c_sq[None, :]
        labels[start : start + _BLOCK] = np.argmin(d2, axis=1)
    return labels


def _means(x: F32, labels: I64, centres: F32) -> F32:
    """Mean of each group's rows; an empty group keeps its centre.  # (G, D)"""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=centres.shape[0])
    filled = counts > 0
    starts = np.concatenate([[0], np.cumsum(counts[filled])[:-1]])
    sums = np.add.reduceat(x[order], starts, axis=0, dtype=np.float64)  # (filled, D)
    out = centres.copy()
    out[filled] = (sums / counts[filled, None]).astype(np.float32)
    return out


def _kmeans(x: F32, groups: int, rng: np.random.Generator) -> I64:
    """Group label of every row: Lloyd's iterations on a sample, then one assignment.  # (N,)"""
    n = x.shape[0]
    if groups <= 1:
        return np.zeros(n, dtype=np.int64)
    train_rows = min(n, groups * _TRAIN_PER_GROUP)
    train = x[np.sort(rng.choice(n, size=train_rows, replace=False))]  # (T, D)
    centres = train[np.sort(rng.choice(train_rows, size=groups, replace=False))]
    for _ in range(_ITERATIONS):
        centres = _means(train, nearest(train, centres), centres)
    return nearest(x, centres)


def partition(x: F32, group_size: int) -> Partition:
    """Split the rows into about ``N / group_size`` groups of nearby rows.

    Two levels, so the cost stays ``O(N sqrt(G))``, not ``O(N G)``: about ``sqrt(G)`` coarse
    groups, then each split into groups of about ``group_size`` rows.

    Args:
        x: The rows.  # (N, D) float32
        group_size: The mean number of rows per group wanted.

    Returns:
        The groups (empty ones dropped), each with its centre and radius.
    """
    n = x.shape[0]
    size = max(1, group_size)
    rng = np.random.default_rng(0)
    coarse = _kmeans(x, round(np.sqrt(max(1, n // size))), rng)  # (N,)
    labels = np.empty(n, dtype=np.int64)
    offset = 0
    for c in range(int(coarse.max()) + 1 if n else 0):
        members = np.flatnonzero(coarse == c)
        if not members.size:
            continue
        fine = _kmeans(x[members], max(1, members.size // size), rng)
        labels[members] = offset + fine
        offset += int(fine.max()) + 1
    order = np.argsort(labels, kind="stable").astype(np.int64)  # ascending rows per group
    counts = np.bincount(labels, minlength=offset)
    used = counts > 0
    starts = np.concatenate([[0], np.cumsum(counts[used])]).astype(np.int64)
    offsets = x[order]  # (N, D) group by group
    sums = np.add.reduceat(offsets, starts[:-1], axis=0, dtype=np.float64) if n else offsets
    centres = np.ascontiguousarray((sums / counts[used, None]).astype(np.float32))
    offsets -= np.repeat(centres, counts[used], axis=0)
    distances = np.sqrt(np.einsum("nd,nd->n", offsets, offsets), dtype=np.float64)
    radii = np.maximum.reduceat(distances, starts[:-1]) if n else np.zeros(0)
    return Partition(order=order, starts=starts, centres=centres, radii=radii)
