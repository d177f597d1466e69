"""Exact nearest-neighbour distances with faiss, on a budget, for the report's statistics.

Every statistic of :mod:`runner.report.analysis` is a mean (or histogram) over *query* rows of
the Euclidean distance to the nearest row of a *database* set. The database is never
subsampled (that would bias the distances upwards); only the queries are, so that
``queries x database rows x dimension`` stays under :data:`BUDGET_MULADDS`. A few thousand
queries estimate a mean distance to well under one percent.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

# Multiply-adds of all exact searches together: ~6 s with faiss on 2 CPU cores (measured
# 2.6e11 multiply-adds in 3.9 s for 2,000 x 100,000 x 1,280).
BUDGET_MULADDS = 3e11
MIN_QUERIES = 1_000  # never estimate from fewer queries than this (unless the set is smaller)

FloatArray = npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Nearest:
    """Nearest database row of each query row.

    Attributes:
        index: (Q,) int64 row of the database set, or -1 if there is none.
        distance: (Q,) float64 Euclidean distance to it (NaN where ``index`` is -1).
    """

    index: IndexArray
    distance: npt.NDArray[np.float64]


def query_cap(*, n_database_rows: int, dim: int) -> int:
    """How many query rows each search may use so that all searches fit the budget.

    Args:
        n_database_rows: Rows of all database sets searched, summed.
        dim: Embedding dimension.

    Returns:
        The cap, at least :data:`MIN_QUERIES`.
    """
    per_query = max(1, n_database_rows) * max(1, dim)
    return max(MIN_QUERIES, int(BUDGET_MULADDS // per_query))


def sample_rows(n: int, cap: int, rng: np.random.Generator) -> IndexArray:
    """All of ``range(n)`` if ``n <= cap``, else ``cap`` sorted rows drawn without replacement."""
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=cap, replace=False)).astype(np.int64)


def nearest(queries: FloatArray, database: FloatArray) -> Nearest:
    """The nearest database row of every query row (exact, L2).

    Args:
        queries: (Q, D) float32.
        database: (M, D) float32.

    Returns:
        Index and distance per query; all -1 / NaN if ``database`` is empty.
    """
    return _search(queries, database, exclude=None)


def nearest_other(members: FloatArray, query_rows: IndexArray) -> Nearest:
    """For some members of a set, the nearest *other* member of the same set.

    Args:
        members: (M, D) float32, the set.
        query_rows: (Q,) rows of ``members`` to query.

    Returns:
        Index into ``members`` and distance per query row; -1 / NaN if the set has one row.
    """
    return _search(members[query_rows], members, exclude=query_rows)


def _search(queries: FloatArray, database: FloatArray, *, exclude: IndexArray | None) -> Nearest:
    """Exact k-NN with k = 1 (or 2, skipping the excluded row of each query)."""
    n_queries = queries.shape[0]
    k = 1 if exclude is None else 2
    if database.shape[0] < k or n_queries == 0:
        return Nearest(
            index=np.full(n_queries, -1, dtype=np.int64),
            distance=np.full(n_queries, np.nan, dtype=np.float64),
        )
    squared, ids = faiss.knn(_f32(queries), _f32(database), k)
    squared = np.asarray(squared, dtype=np.float64)
    ids = np.asarray(ids, dtype=np.int64)
    column = np.zeros(n_queries, dtype=np.int64)
    if exclude is not None:
        column = (ids[:, 0] == exclude).astype(np.int64)  # self first: take the second hit
    rows = np.arange(n_queries)
    best_ids, best_sq = ids[rows, column], squared[rows, column]
    return Nearest(index=best_ids, distance=np.sqrt(np.maximum(best_sq, 0.0)))


def _f32(array: npt.NDArray[np.floating]) -> FloatArray:
    """C-contiguous float32 (no copy when it already is)."""
    return np.ascontiguousarray(array, dtype=np.float32)
