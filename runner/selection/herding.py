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
``N = 10,000`` and estimated from a fixed random base of 10,000 rows above; each pick then
costs one pass over the ``N x 64`` rows. Nothing ``N x N`` is ever held, and the input (a
float16 memory map of the embedding cache, say) is read block by block, never copied whole.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from runner.selection.herding_lazy import LazyHerding, grouped_kernel_mean
from runner.selection.objective import ObjectiveContext
from runner.selection.partition import Partition, partition
from runner.selection.projection import unit_projection

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

DEFAULT_NEIGHBORS = 30
BANDWIDTH = 0.5  # sigma as a fraction of the median k-th neighbour distance
# Floor of sigma^2 (sigma = 0.01 on unit rows, where rows are near-duplicates anyway): keeps
# the float32 log-kernel x.y / sigma^2 - h_i - h_j accurate to ~0.05 and exp() finite.
MIN_SIGMA2 = 1e-4
_BASE = 10_000  # rows of the kernel-mean base; every row below this size
_QUERIES = 2_000  # rows whose k-th neighbour distance estimates the bandwidth
_BLOCK = 512  # rows per block of kernel evaluations (20 MB at the full base)
GROUP_SIZE = 256  # mean rows per group of the lazy engine (runner.selection.herding_lazy)


def squared_distances(x: F32, y: F32, y_sq: F32) -> F32:
    """Squared Euclidean distances between the rows of ``x`` and ``y``.  # (len(x), len(y))

    One matrix product, then in-place updates: no temporary as large as the result.
    """
    d2: F32 = x @ y.T  # (n, m)
    d2 *= np.float32(-2.0)
    d2 += np.einsum("nd,nd->n", x, x)[:, None]
    d2 += y_sq[None, :]
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
        The kernel's ``sigma^2``, at least :data:`MIN_SIGMA2`; 1 when the rows have no scale.
    """
    n = x.shape[0]
    base = _sample(n, _BASE)  # (B,)
    kb = min(base.size - 1, max(1, round(k * base.size / n)))
    queries = _sample(n, _QUERIES)  # (Q,)
    xb = np.ascontiguousarray(x[base])
    d2 = squared_distances(x[queries], xb, np.einsum("nd,nd->n", xb, xb))  # (Q, B)
    # the query itself is in the base when the base is every row: its distance 0 comes first
    kth = np.partition(d2, kb, axis=1)[:, kb]  # (Q,)
    kth = kth[kth > 0]  # rows with k exact copies say nothing about the scale
    if not kth.size:
        return 1.0  # every row has k copies: any kernel ranks them alike
    return max(BANDWIDTH**2 * float(np.median(kth)), MIN_SIGMA2)


def log_kernel_rows(x: F32, sigma2: float) -> F32:
    """Rows ``a_i`` with ``a_i . b_j = log K(x_i, x_j)`` for :func:`log_kernel_column`'s ``b_j``.

    ``-|x_i - x_j|^2 / (2 sigma^2) = x_i.x_j / sigma^2 - h_i - h_j`` with
    ``h = |x|^2 / (2 sigma^2)``: ``a_i = [x_i / sigma^2, -h_i, 1]``, ``b_j = [x_j, 1, -h_j]``, so
    a block of kernel values is one matrix product and one ``exp``.

    Args:
        x: The rows.  # (N, D) float32
        sigma2: The kernel's ``sigma^2``.

    Returns:
        The augmented rows.  # (N, D + 2) float32
    """
    half = np.einsum("nd,nd->n", x, x) * np.float32(0.5 / sigma2)  # (N,)
    rows = np.empty((x.shape[0], x.shape[1] + 2), dtype=np.float32)
    np.multiply(x, np.float32(1.0 / sigma2), out=rows[:, :-2])
    rows[:, -2] = -half
    rows[:, -1] = 1.0
    return rows


def log_kernel_column(a: F32, sigma2: float, rows: npt.NDArray[np.int64]) -> F32:
    """``b_j`` of the given rows, as columns, from :func:`log_kernel_rows`'s ``a``.  # (D+2, R)"""
    x = a[rows, :-2] * np.float32(sigma2)  # (R, D)
    columns = np.empty((a.shape[1], rows.size), dtype=np.float32)
    columns[:-2] = x.T
    columns[-2] = 1.0
    columns[-1] = a[rows, -2]
    return columns


def kernel_mean(a: F32, sigma2: float, groups: Partition | None = None) -> F64:
    """``mu_i``: the mean Gaussian kernel of each row to every row (or to a fixed base).

    Args:
        a: :func:`log_kernel_rows` of the rows.  # (N, D + 2) float32
        sigma2: The kernel's ``sigma^2``.
        groups: The rows' groups: above :data:`_BASE` rows, each group then sums only the base
            rows within the kernel's reach (:func:`~runner.selection.herding_lazy.
            grouped_kernel_mean`; terms below ``e^-30`` are left out).

    Returns:
        The kernel density estimate of every row, in (0, 1].  # (N,) float64
    """
    base = _sample(a.shape[0], _BASE)
    columns = log_kernel_column(a, sigma2, base)  # (D + 2, B)
    if groups is not None and a.shape[0] > _BASE:
        return grouped_kernel_mean(a, sigma2, columns, groups)
    weights = np.full(base.size, 1.0 / base.size, dtype=np.float32)  # (B,)
    mean = np.empty(a.shape[0], dtype=np.float64)
    for start in range(0, a.shape[0], _BLOCK):
        block = a[start : start + _BLOCK] @ columns  # (b, B) log K
        mean[start : start + _BLOCK] = np.exp(block, out=block) @ weights
    return mean


class HerdingObjective:
    """Dynamic objective: the herding gain of every row given the picks so far.

    The gains live in :class:`~runner.selection.herding_lazy.LazyHerding`, which finds the
    best row from group bounds (:meth:`argmax`) when HERDING is the loop's only dynamic
    objective with a positive strength, and scores every row otherwise.
    """

    def __init__(
        self,
        *,
        embeddings: npt.NDArray[np.floating],
        preselected: npt.NDArray[np.int64],
        k: int,
        budget: int | None,
    ) -> None:
        """Project the rows, fix the kernel, estimate the density and group the rows.

        Args:
            embeddings: One row per sample, candidates and preselected.  # (N, D)
            preselected: Rows already selected (the datapool).  # (M,) int64
            k: ``num_nearest_neighbors``: the neighbour that sets the bandwidth.
            budget: How many rows the loop picks at most (``None``: no limit).
        """
        x = unit_projection(embeddings)  # (N, <=64)
        n = x.shape[0]
        picks = n if budget is None else budget + preselected.size
        self._k = max(k, round(n / (10 * max(picks, 1))))
        self._sigma2 = bandwidth(x, self._k) if n > 1 else 1.0
        groups = partition(x, GROUP_SIZE)
        a = log_kernel_rows(x, self._sigma2)  # (N, D + 2)
        del x
        mu = kernel_mean(a, self._sigma2, groups)  # (N,)
        self._tau = max(float(np.median(mu)), 1e-12)
        self._engine = LazyHerding(a, self._sigma2, mu, groups)
        del a
        self._base_rows = int(min(n, _BASE))
        self._gains: list[float] = []
        for row in preselected.tolist():
            self._engine.add(int(row))

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
        gain = self._engine.gains()
        gain -= gain.max()
        gain /= self._tau
        return np.exp(gain, out=gain)

    def argmax(
        self,
        *,
        factor: F64 | None,
        strength: float,
        blocked: npt.NDArray[np.bool_],
    ) -> tuple[int, float] | None:
        """The best row by group bounds (``blocked`` is exactly the picks the engine holds).

        Returns ``None`` for a strength <= 0 (the loop scores every row instead).
        """
        if strength <= 0:
            return None
        return self._engine.argmax(factor=factor, strength=strength, tau=self._tau)

    def should_stop(self, picked: int) -> str | None:
        """HERDING has no stopping condition."""
        return None

    def update(self, picked: int) -> None:
        """Record the pick's gain and cover its neighbourhood."""
        self._gains.append(self._engine.gain(picked))
        self._engine.add(picked)

    def summary(self) -> dict[str, object]:
        """The kernel, how the gain fell over the picks and how much the bounds skipped."""
        picks = max(len(self._gains), 1)
        return {
            "num_nearest_neighbors": self._k,
            "kernel_sigma": float(np.sqrt(self._sigma2)),
            "density_base_rows": self._base_rows,
            "first_gain": self._gains[0] if self._gains else None,
            "last_gain": self._gains[-1] if self._gains else None,
            "groups": self._engine.groups,
            "groups_evaluated_per_pick": self._engine.evaluated / picks,
            "kernel_pairs_per_pick": float(self._engine.folded_pairs) / picks,
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
