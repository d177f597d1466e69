"""SIMILARITY: prefer samples close to a query set of embeddings.

The query set is the local equivalent of Lightly's ``dataset_id`` + ``tag_name``: a list of
samples of the same input, named by ``tag_name`` (see ``docs/selection.md``; the caller maps
the tag to sample keys). The query samples themselves are not candidates: a search returns
what is *like* the examples, not the examples again.

Objective (static), on L2-normalised embeddings::

    s_i = (1 + max_q cos(x_i, x_q)) / 2,   floored at 1e-6

i.e. the similarity to the *nearest* query sample, shifted into (0, 1]. The maximum (not the
mean) keeps every mode of a query set that shows several kinds of images: a sample close to
any one example is a good match.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from runner.selection.diversity import unit_float32
from runner.selection.objective import ObjectiveContext

F64 = npt.NDArray[np.float64]
_BLOCK_BYTES = 64 * 2**20
_FLOOR = 1e-6


def max_cosine(embeddings: npt.NDArray[np.floating], query: npt.NDArray[np.floating]) -> F64:
    """Cosine similarity of every row to its most similar query row.

    Args:
        embeddings: The rows.  # (N, D)
        query: The query rows.  # (Q, D)

    Returns:
        One similarity in [-1, 1] per row.  # (N,) float64
    """
    x = unit_float32(embeddings)  # (N, D)
    q = unit_float32(query)  # (Q, D)
    out = np.empty(x.shape[0], dtype=np.float64)
    step = max(1, _BLOCK_BYTES // (4 * max(q.shape[0], 1)))
    for start in range(0, x.shape[0], step):
        out[start : start + step] = (x[start : start + step] @ q.T).max(axis=1)
    clipped: F64 = np.clip(out, -1.0, 1.0)
    return clipped


class SimilarityObjective:
    """Static objective: similarity to the nearest query sample."""

    def __init__(
        self, *, embeddings: npt.NDArray[np.floating], query: npt.NDArray[np.floating]
    ) -> None:
        """Score every row.

        Args:
            embeddings: The rows.  # (N, D)
            query: The query embeddings (at least one).  # (Q, D)
        """
        self._n_query = int(query.shape[0])
        self._cos = max_cosine(embeddings, query)  # (N,)
        self._picked: list[float] = []

    @property
    def name(self) -> str:
        """``"SIMILARITY"``."""
        return "SIMILARITY"

    @property
    def static(self) -> bool:
        """``True``: the query set does not change."""
        return True

    def scores(self) -> F64:
        """``(1 + max cosine) / 2`` per row.  # (N,) float64"""
        return np.maximum((1.0 + self._cos) / 2.0, _FLOOR)

    def should_stop(self, picked: int) -> str | None:
        """SIMILARITY has no stopping condition."""
        del picked
        return None

    def update(self, picked: int) -> None:
        """Record the pick's cosine similarity."""
        self._picked.append(float(self._cos[picked]))

    def summary(self) -> dict[str, object]:
        """Query size and the cosine similarities of the picks."""
        return {
            "query_size": self._n_query,
            "max_selected_cosine": max(self._picked) if self._picked else None,
            "min_selected_cosine": min(self._picked) if self._picked else None,
        }


def build_similarity(ctx: ObjectiveContext) -> SimilarityObjective:
    """Build the SIMILARITY objective of one strategy entry.

    Args:
        ctx: The rows and the query embeddings.

    Returns:
        The objective.
    """
    assert ctx.query is not None and ctx.query.shape[0] > 0  # resolved by select()
    return SimilarityObjective(embeddings=ctx.embeddings, query=ctx.query)
