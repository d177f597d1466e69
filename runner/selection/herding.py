"""HERDING: a selection whose distribution matches the data's (kernel herding, greedy MMD).

Our extension to Lightly's strategies (``strategy.type: HERDING`` on ``EMBEDDINGS``). Kernel
herding (Welling, ICML 2009; Chen, Welling and Smola, UAI 2010) picks samples one by one so
that the maximum mean discrepancy (MMD) between the selection and the whole dataset shrinks as
fast as possible. With a Gaussian kernel ``K`` the greedy step takes the candidate with the
largest *herding gain*::

    h_i = μ_i - (1 / (t + 1)) · Σ_{s ∈ S} K(x_i, x_s),        μ_i = (1 / N) Σ_j K(x_i, x_j)

where ``S`` holds the ``t`` rows selected so far (the datapool's preselected rows included).
``μ`` is a kernel density estimate, so the first picks are the most typical samples; the
second term pushes away from what is already covered. The result follows the density the way
a random draw does — a tight minority class gets its share, which k-center and k-means medoids
miss — while spreading the picks evenly inside every mode, which a random draw does not.
TypiClust (Hacohen et al., ICML 2022) and ProbCover (Yehuda et al., NeurIPS 2022) aim at the
same low-budget regime by covering clusters or δ-balls; herding needs neither a cluster count
nor a purity threshold.

Bandwidth: ``σ² = BANDWIDTH² · median_i d²(x_i, its k-th neighbour)`` on the L2-normalised
embeddings, ``k = max(num_nearest_neighbors, N / (10 · budget))`` (default 30; the budget
term widens the kernel when each pick stands for many samples, as for 100 picks from 1M).
``BANDWIDTH = 0.5`` and ``k = 30`` were chosen on the tuning half of
``benchmarks/selection_quality.py`` (docs/benchmarks.md).

The greedy loop combines objectives as a product, so the gain is reported as
``exp((h_i - max h) / τ)`` in (0, 1], ``τ`` the median of ``μ``: alone it picks exactly the
largest gain; next to WEIGHTS or BALANCE a gain lower by ``τ`` costs a factor ``e``.

Cost, for ``N`` rows projected onto at most 64 principal components: ``μ`` is exact up to
``N = 20,000`` and estimated from a fixed random base of 20,000 rows above; each pick then
costs one pass over the ``N x 64`` rows. Nothing ``N x N`` is ever held.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from runner.selection.diversity import unit_float32
from runner.selection.objective import ObjectiveContext
from runner.selection.typicality import MAX_DIMS, project

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

DEFAULT_NEIGHBORS = 30
BANDWIDTH = 0.5  # sigma as a fraction of the median k-th neighbour distance
_BASE = 20_000  # rows of the kernel-mean base; every row below this size
_QUERIES = 2_000  # rows whose k-th neighbour distance estimates the bandwidth
_BLOCK = 4_096  # rows per block of kernel evaluations


def _squared_distances(x: F32, y: F32, y_sq: F32) -> F32:
    """Squared Euclidean distances between the rows of ``x`` and ``y``.  # (len(x), len(y))"""
    x_sq = np.einsum("nd,nd->n", x, x)[:, None]  # (n, 1)
    d2: F32 = x_sq + y_sq[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0, out=d2)


def _sample(n: int, size: int) -> npt.NDArray[np.int64]:
    """A fixed random sample of ``size`` rows (all rows when ``n <= size``).  # (<=size,)"""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False)).astype(np.int64)


def bandwidth(x: F32, k: int) -> float:
    """``σ²`` of the kernel: ``BANDWIDTH²`` times the median squared k-th neighbour distance.

    Args:
        x: L2-normalised (and possibly projected) rows.  # (N, D) float32
        k: The neighbour whose distance sets the scale (scaled down on a sampled base).

    Returns:
        The kernel's ``σ²``; a tiny positive value when all rows coincide.
    """
    n = x.shape[0]
    base = _sample(n, _BASE)  # (B,)
    kb = min(base.size - 1, max(1, round(k * base.size / n)))
    queries = _sample(n, _QUERIES)  # (Q,)
    xb = np.ascontiguousarray(x[base])
    d2 = _squared_distances(x[queries], xb, np.einsum("nd,nd->n", xb, xb))  # (Q, B)
    # the query itself is in the base when the base is every row: its distance 0 comes first
    kth = np.partition(d2, kb, axis=1)[:, kb]  # (Q,)
    return max(BANDWIDTH**2 * float(np.median(kth)), 1e-12)


def kernel_mean(x: F32, sigma2: float) -> F64:
    """``μ_i``: the mean Gaussian kernel of each row to every row (or to a fixed base).

    Args:
        x: The rows.  # (N, D) float32
        sigma2: The kernel's ``σ²``.

    Returns:
        The kernel density estimate of every row, in (0, 1].  # (N,) float64
    """
    base = _sample(x.shape[0], _BASE)
    xb = np.ascontiguousarray(x[base])  # (B, D)
    xb_sq = np.einsum("nd,nd->n", xb, xb)  # (B,)
    mean = np.empty(x.shape[0], dtype=np.float64)
    for start in range(0, x.shape[0], _BLOCK):
        d2 = _squared_distances(x[start : start + _BLOCK], xb, xb_sq)  # (b, B)
        np.exp(d2 * np.float32(-0.5 / sigma2), out=d2)
        mean[start : start + _BLOCK] = d2.mean(axis=1, dtype=np.float64)
    return mean


class HerdingObjective:
    """Dynamic objective: the herding gain of every row given the picks so far."""

    def __init__(
        self,
        *,
        embeddings: npt.NDArray[np.floating],
        preselected: npt.NDArray[np.int64],
        k: int,
        budget: int | None,
    ) -> None:
        """Project the rows, fix the kernel and estimate the density.

        Args:
            embeddings: One row per sample, candidates and preselected.  # (N, D)
            preselected: Rows already selected (the datapool).  # (M,) int64
            k: ``num_nearest_neighbors``: the neighbour that sets the bandwidth.
            budget: How many rows the loop picks at most (``None``: no limit).
        """
        x = unit_float32(embeddings)  # (N, D)
        if x.shape[1] > MAX_DIMS:
            x = project(x)
        n = x.shape[0]
        self._x = x
        self._x_sq = np.einsum("nd,nd->n", x, x)  # (N,)
        picks = n if budget is None else budget + preselected.size
        self._k = max(k, round(n / (10 * max(picks, 1))))
        self._sigma2 = bandwidth(x, self._k) if n > 1 else 1.0
        self._mu = kernel_mean(x, self._sigma2)  # (N,)
        self._tau = max(float(np.median(self._mu)), 1e-12)
        self._penalty = np.zeros(n, dtype=np.float64)  # (N,) Σ_s K(x_i, x_s)
        self._count = 0
        self._gains: list[float] = []
        for row in preselected.tolist():
            self._add(int(row))

    def _add(self, row: int) -> None:
        """Add the kernel row of ``row`` to the penalty."""
        d2 = self._x_sq + self._x_sq[row] - 2.0 * (self._x @ self._x[row])  # (N,)
        np.maximum(d2, 0.0, out=d2)
        self._penalty += np.exp(d2 * np.float32(-0.5 / self._sigma2))
        self._count += 1

    def _gain(self) -> F64:
        """``h``: the herding gain of every row.  # (N,)"""
        gain: F64 = self._mu - self._penalty / (self._count + 1)
        return gain

    @property
    def name(self) -> str:
        """``"HERDING"``."""
        return "HERDING"

    @property
    def static(self) -> bool:
        """``False``: the gain changes with every pick."""
        return False

    def scores(self) -> F64:
        """``exp((h - max h) / τ)``: the gain mapped into (0, 1].  # (N,) float64"""
        gain = self._gain()
        gain -= gain.max()
        gain /= self._tau
        return np.exp(gain, out=gain)

    def should_stop(self, picked: int) -> str | None:
        """HERDING has no stopping condition."""
        return None

    def update(self, picked: int) -> None:
        """Record the pick's gain and cover its neighbourhood."""
        self._gains.append(float(self._gain()[picked]))
        self._add(picked)

    def summary(self) -> dict[str, object]:
        """The kernel and how the gain fell over the picks."""
        return {
            "num_nearest_neighbors": self._k,
            "kernel_sigma": float(np.sqrt(self._sigma2)),
            "density_base_rows": int(min(self._x.shape[0], _BASE)),
            "first_gain": self._gains[0] if self._gains else None,
            "last_gain": self._gains[-1] if self._gains else None,
        }


def build_herding(ctx: ObjectiveContext) -> HerdingObjective:
    """Build the HERDING objective of one strategy entry.

    Args:
        ctx: The rows and the validated entry.

    Returns:
        The objective.
    """
    return HerdingObjective(
        embeddings=ctx.embeddings,
        preselected=ctx.preselected,
        k=ctx.entry.strategy.num_nearest_neighbors or DEFAULT_NEIGHBORS,
        budget=ctx.n_requested,
    )
