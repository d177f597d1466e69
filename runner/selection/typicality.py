"""TYPICALITY: prefer samples in dense regions of the embedding space.

The typicality of a row is TypiClust's inverse mean distance to its ``k`` nearest neighbours
(``num_nearest_neighbors``, default 20; the row itself excluded), normalised by the most
typical row so it lies in (0, 1]::

    m_i = mean_{j in kNN(i)} |x_i - x_j|,    typicality_i = (1e-6 + min_j m_j) / (1e-6 + m_i)

on L2-normalised embeddings; every row of the selection's input (candidates and preselected)
is a neighbour. ``stopping_condition_minimum_typicality`` stops the selection before a sample
whose typicality is below it. The objective is static: the typicality itself.

Neighbours are found exactly with faiss (``IndexFlatL2``). To stay fast for large inputs:

* embeddings with more than 64 dimensions are projected onto their top 64 principal
  components first (on clustered data the ranking of typicalities keeps a Spearman
  correlation above 0.99 with the full-dimensional one);
* when ``N²`` exceeds 1e9 distance pairs (N > ~31k), the neighbour base is a fixed random
  sample of ``B = max(4096, 1e9 / N)`` rows and ``k`` is scaled to ``max(2, round(k·B/N))``,
  so the neighbourhood covers about the same share of the data (N = 100k, D = 512: B = 10k,
  ~1.5 s on 2 cores; Spearman 0.97 against the exact ranking on clustered data).

The sample is drawn with a fixed seed: typicality is a property of the data, not of the run.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from runner.selection.objective import ObjectiveContext
from runner.selection.projection import unit_projection

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

DEFAULT_NEIGHBORS = 20
_MAX_PAIRS = 10**9
_MIN_BASE = 4096
_EPS = 1e-6


def _base_rows(n: int) -> npt.NDArray[np.int64]:
    """The neighbour base: every row, or a fixed random sample for large inputs.  # (B,)"""
    if n * n <= _MAX_PAIRS:
        return np.arange(n, dtype=np.int64)
    size = min(n, max(_MIN_BASE, _MAX_PAIRS // n))
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)


def mean_knn_distance(x: F32, k: int) -> F64:
    """Mean Euclidean distance of each row to its ``k`` nearest other rows.

    Args:
        x: The rows.  # (N, D) float32
        k: Neighbours per row (scaled down when the base is sampled).

    Returns:
        One mean distance per row.  # (N,) float64
    """
    import faiss  # heavy: loaded only when TYPICALITY is used

    n = x.shape[0]
    base = _base_rows(n)  # (B,)
    k = min(k if base.size == n else max(2, round(k * base.size / n)), base.size - 1)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(np.ascontiguousarray(x[base]))
    d2, nearest = index.search(x, k + 1)  # (N, k+1) squared distances, base positions
    is_self = base[nearest] == np.arange(n)[:, None]  # (N, k+1)
    keep = np.ones_like(is_self)
    has_self = is_self.any(axis=1)
    keep[has_self] = ~is_self[has_self]  # drop the row itself ...
    keep[~has_self, -1] = False  # ... or, when it is not in the base, the farthest
    distances = np.sqrt(np.maximum(d2, 0.0), dtype=np.float64)[keep].reshape(n, k)
    mean: F64 = distances.mean(axis=1)
    return mean


def typicality(embeddings: npt.NDArray[np.floating], k: int = DEFAULT_NEIGHBORS) -> F64:
    """Typicality in (0, 1] of every row (see the module docstring).

    Args:
        embeddings: One row per sample.  # (N, D)
        k: ``num_nearest_neighbors``.

    Returns:
        The typicality of every row; 1 for a single row.  # (N,) float64
    """
    n = embeddings.shape[0]
    if n < 2:
        return np.ones(n)
    x = unit_projection(embeddings)  # (N, <=64)
    mean = mean_knn_distance(x, k)  # (N,)
    scores: F64 = (_EPS + float(mean.min())) / (_EPS + mean)
    return scores


class TypicalityObjective:
    """Static objective: the typicality of each row; optional minimum-typicality stop."""

    def __init__(
        self, *, embeddings: npt.NDArray[np.floating], k: int, min_typicality: float | None
    ) -> None:
        """Compute the typicalities.

        Args:
            embeddings: One row per sample.  # (N, D)
            k: ``num_nearest_neighbors``.
            min_typicality: ``stopping_condition_minimum_typicality``, or ``None``.
        """
        self._k = k
        self._scores = typicality(embeddings, k)  # (N,)
        self._min = min_typicality
        self._picked: list[float] = []
        self._stop: float | None = None

    @property
    def name(self) -> str:
        """``"TYPICALITY"``."""
        return "TYPICALITY"

    @property
    def static(self) -> bool:
        """``True``: typicality does not depend on the selection."""
        return True

    def scores(self) -> F64:
        """The typicality of every row.  # (N,) float64"""
        return self._scores.copy()

    def should_stop(self, picked: int) -> str | None:
        """Stop before a sample whose typicality is below the minimum."""
        value = float(self._scores[picked])
        if self._min is None or value >= self._min:
            return None
        self._stop = value
        return f"{self.name}: minimum typicality {self._min:g} reached"

    def update(self, picked: int) -> None:
        """Record the pick's typicality."""
        self._picked.append(float(self._scores[picked]))

    def summary(self) -> dict[str, object]:
        """``k``, the lowest typicality selected and the one that stopped the loop."""
        return {
            "num_nearest_neighbors": self._k,
            "min_selected_typicality": min(self._picked) if self._picked else None,
            "stop_typicality": self._stop,
        }


def build_typicality(ctx: ObjectiveContext) -> TypicalityObjective:
    """Build the TYPICALITY objective of one strategy entry.

    Args:
        ctx: The rows and the validated entry.

    Returns:
        The objective.
    """
    strategy = ctx.entry.strategy
    return TypicalityObjective(
        embeddings=ctx.embeddings,
        k=strategy.num_nearest_neighbors or DEFAULT_NEIGHBORS,
        min_typicality=strategy.stopping_condition_minimum_typicality,
    )
