"""Triangle-inequality pruning of k-center distance updates over a fixed partition of the rows.

The rows are split once into groups around *anchors* (k-means on a PCA projection of a
sample). Each row ``x`` keeps its anchor ``a`` and ``r_x = |x - a|``. A new center ``c`` can
lower the stored distance ``u_x`` of ``x`` to the selection only if ``|x - c| < u_x``; since
``|x - c| >= |c - a| - r_x``, it cannot when ``|c - a| >= r_x + u_x``. One small product
gives ``|c - a|`` for every (center, anchor) pair; a whole group is skipped for a center when
the test fails for its largest ``r_x + u_x``, and inside a group only the rows that pass for at
least one center are multiplied. On clustered data a late center reaches only its own
neighbourhood, so most (row, center) products are never computed.

Ideas: Elkan (2003), "Using the triangle inequality to accelerate k-means" (per-point bounds
against center distances); Moore (2000), "The anchors hierarchy" (rows grouped around anchors
with radii, whole groups ruled out at once).

Exactness: a skipped center is one whose float32 distance would not have lowered the stored
minimum either. The test keeps a margin (``MARGIN`` times the largest row norm) above the
rounding of the expansion ``|x|² + |c|² - 2 x·c`` (at most ~1e-3 in distance, near 0), so
pruning never changes a stored minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from runner.selection.blas import one_thread
from runner.selection.partition import nearest

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

MARGIN = 4e-3  # distance slack of the test, per unit of row norm (rounding is <= ~1e-3)
_PCA_DIMS = 32  # dimensions of the projection the rows are grouped in
_PCA_SAMPLE = 4096  # rows the projection is fitted on
_SAMPLE_PER_GROUP = 16  # k-means sample size per group
_KMEANS_ITERATIONS = 6
_BLOCK = 8192  # rows projected and assigned at once (bounded memory)
_WORK_BYTES = 64 * 2**20  # largest (rows, centers) float32 block of one dense product
_DENSE_FRACTION = 0.5  # pruned work above this fraction of the dense product: go dense


@dataclass(frozen=True)
class Partition:
    """Rows grouped around anchors, with each row's distance to its anchor.

    The anchors are kept as their PCA coordinates and the norm of their remainder: with
    ``v = c - a`` split into its part ``P v`` in the top components and the rest ``Q v``,
    ``|v|² = |P v|² + |Q v|² >= |P v|² + (|Q (c - m)| - |Q (a - m)|)²`` (``m`` the mean), a
    lower bound of ``|c - a|`` from ``p``-dimensional products (the classic PCA bound of
    exact nearest-neighbour search); it is close to exact when the anchors, as means, have
    little left outside the top components.

    Attributes:
        group: The group of each row.  # (N,) int64
        radius: ``|x - anchor|`` of each row.  # (N,) float32
        mean: Center of the projection.  # (D,) float64
        w: The top principal directions.  # (D, p) float64
        anchor_p: ``P (a - m)`` of each anchor.  # (G, p) float64
        anchor_q: ``|Q (a - m)|`` of each anchor.  # (G,) float64
        margin: Distance slack of the pruning test.
    """

    group: I64
    radius: F32
    mean: F64
    w: F64
    anchor_p: F64
    anchor_q: F64
    margin: float

    def center_bounds(self, c: F32) -> F32:
        """A lower bound of the distance of each center to each anchor.  # (P, G) float32"""
        cp, cq = _split(c.astype(np.float64) - self.mean, self.w)  # (P, p), (P,)
        with one_thread(cp.shape[0] * self.anchor_p.shape[0] * cp.shape[1]):
            g = cp @ self.anchor_p.T  # (P, G)
        g *= -2.0
        g += np.einsum("pk,pk->p", cp, cp)[:, None]
        g += np.einsum("gk,gk->g", self.anchor_p, self.anchor_p)[None, :]
        np.maximum(g, 0.0, out=g)
        g += (cq[:, None] - self.anchor_q[None, :]) ** 2
        out: F32 = np.sqrt(g).astype(np.float32)
        return out


class BoundCache:
    """:meth:`Partition.center_bounds` of each center, computed once, stored in float16.

    Rounded down to the next float16 at or below the bound, so they stay lower bounds (1M
    rows, 100k centers, 1024 groups: 200 MB).
    """

    _CHUNK = 1024  # centers per stored block

    def __init__(self, part: Partition) -> None:
        self._part = part
        self._blocks: list[npt.NDArray[np.float16]] = []  # (<= _CHUNK, G) each
        self._n = 0  # centers with stored bounds

    def get(self, x: F32, centers: list[int], first: int, last: int) -> F32:
        """Bounds of ``centers[first:last]`` to every anchor.  # (P, G) float32"""
        while self._n < last:
            size = self._blocks[-1].shape[0] if self._blocks else self._CHUNK
            if size == self._CHUNK:
                self._blocks.append(np.empty((0, self._part.anchor_q.size), np.float16))
                size = 0
            top = min(last, self._n + self._CHUNK - size)
            new = self._part.center_bounds(x[np.asarray(centers[self._n : top])])
            low = new.astype(np.float16)
            over = low.astype(np.float32) > new
            low[over] = np.nextafter(low[over], np.float16(0))
            self._blocks[-1] = np.concatenate([self._blocks[-1], low])
            self._n = top
        lo, hi = first // self._CHUNK, (last - 1) // self._CHUNK + 1
        out: F32 = np.concatenate(self._blocks[lo:hi]).astype(np.float32)
        start = first - lo * self._CHUNK
        return out[start : start + last - first]


def _split(v: F64, w: F64) -> tuple[F64, F64]:
    """Coordinates of ``v`` on the columns of ``w`` and the norm of the rest.  # (R, p), (R,)"""
    vp = v @ w
    rest = np.einsum("rd,rd->r", v, v) - np.einsum("rk,rk->r", vp, vp)
    return vp, np.sqrt(np.maximum(rest, 0.0))


def n_groups(n: int) -> int:
    """Groups for ``n`` rows: one per 128 rows, at most 1024 (bounds the center cache)."""
    return int(min(1024, max(1, n // 128)))


def build_partition(x: F32, sq: F32, groups: int, seed: int = 0) -> Partition:
    """Group the rows around ``groups`` anchors; deterministic for a given ``seed``.

    Any grouping keeps the pruning exact (the radii are measured, not assumed); a good one
    (tight groups) prunes more. The anchors come from a few k-means rounds on a sample in a
    PCA projection; every row then joins the nearest anchor in that projection.

    Args:
        x: The rows.  # (N, D) float32
        sq: Their squared norms.  # (N,) float32
        groups: Number of groups, at most N.
        seed: Seeds the sample and the k-means start.

    Returns:
        The partition.
    """
    n, d = x.shape
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, groups * _SAMPLE_PER_GROUP), replace=False))
    xs = x[sample].astype(np.float64)  # (S, D)
    mean = xs.mean(axis=0)  # (D,)
    fit = xs[:: max(1, xs.shape[0] // _PCA_SAMPLE)] - mean  # (S', D) spread over the sample
    with one_thread(0):  # LAPACK on 2 busy cores: threads cost more than they give
        _, vectors = np.linalg.eigh(fit.T @ fit)
    w = vectors[:, ::-1][:, : min(d, _PCA_DIMS)].astype(np.float32)  # (D, p) top components
    ps = (xs - mean).astype(np.float32) @ w  # (S, p)
    cent = ps[rng.choice(ps.shape[0], size=groups, replace=False)]  # (G, p)
    labels = np.zeros(ps.shape[0], dtype=np.int64)
    for _ in range(_KMEANS_ITERATIONS):
        labels = nearest(ps, cent)
        counts = np.bincount(labels, minlength=groups)
        sums = np.zeros_like(cent)
        np.add.at(sums, labels, ps)
        filled = counts > 0  # an empty group keeps its old point
        cent[filled] = sums[filled] / counts[filled, None]
    # anchors in the full space: mean of each group's sample rows (any point would do)
    anchors = np.zeros((groups, d), dtype=np.float64)
    np.add.at(anchors, labels, xs)
    counts = np.bincount(labels, minlength=groups)
    anchors[counts > 0] /= counts[counts > 0, None]
    anchors32 = anchors.astype(np.float32)  # (G, D)
    shift = (mean.astype(np.float32) @ w)[None, :]  # (1, p)
    group = np.empty(n, dtype=np.int64)
    radius = np.empty(n, dtype=np.float32)
    for start in range(0, n, _BLOCK):
        block = x[start : start + _BLOCK]  # (B, D)
        g = nearest(block @ w - shift, cent)  # (B,)
        group[start : start + _BLOCK] = g
        radius[start : start + _BLOCK] = np.linalg.norm(block - anchors32[g], axis=1)
    scale = float(np.sqrt(max(float(sq.max()), 1.0))) if n else 1.0
    w64 = w.astype(np.float64)
    anchor_p, anchor_q = _split(anchors32.astype(np.float64) - mean, w64)
    return Partition(group, radius, mean, w64, anchor_p, anchor_q, MARGIN * scale)


def runs(group: I64) -> tuple[I64, I64]:
    """Starts (plus the end) and group of each run of equal values in a sorted ``group``."""
    if group.size == 0:
        return np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int64)
    cut = np.flatnonzero(np.diff(group)) + 1
    starts = np.concatenate([[0], cut, [group.size]]).astype(np.int64)
    return starts, group[starts[:-1]]


def lower(
    part: Partition,
    x: F32,
    sq: F32,
    rows: I64,
    best: F32,
    c_rows: I64,
    bounds: F32,
    xr: F32 | None,
    starts: I64,
    gids: I64,
) -> int:
    """Lower ``best`` (squared distances of ``rows``) in place over the centers ``c_rows``.

    Args:
        part: The partition.
        x: All rows.  # (N, D)
        sq: Their squared norms.  # (N,)
        rows: Rows to update, sorted by group.  # (R,)
        best: Their current minima (exact over the centers already folded).  # (R,)
        c_rows: New centers.  # (P,)
        bounds: Lower bounds of their distances to each anchor.  # (P, G)
        xr: ``x[rows]`` when already gathered, else ``None``.  # (R, D)
        starts: Run starts (and the end) of ``part.group[rows]``.  # (S + 1,)
        gids: The group of each run.  # (S,)

    Returns:
        The (row, center) distances computed.
    """
    c = x[c_rows]  # (P, D)
    csq = sq[c_rows]  # (P,)
    reach = part.radius[rows] + np.sqrt(best) + np.float32(part.margin)  # (R,)
    dc = bounds[:, gids]  # (P, S) lower bounds of |c - anchor|
    run_reach = np.maximum.reduceat(reach, starts[:-1]) if gids.size else reach[:0]  # (S,)
    hit = dc < run_reach[None, :]  # (P, S) center may lower some row of the run
    lengths = np.diff(starts)  # (S,)
    target = _Target(x, sq, rows, xr, best)
    if int(hit.sum(axis=0) @ lengths) > _DENSE_FRACTION * rows.size * c_rows.size:
        lower_dense(best, rows, x, sq, xr, c_rows)
        return int(rows.size * c_rows.size)
    done = 0
    with one_thread(0):  # small products: waking BLAS threads would cost more than them
        for s in np.flatnonzero(hit.any(axis=0)).tolist():
            cs = np.flatnonzero(hit[:, s])  # centers that may reach this run
            lo, hi = int(starts[s]), int(starts[s + 1])
            sub = lo + np.flatnonzero(reach[lo:hi] > dc[cs, s].min())  # rows one may lower
            if sub.size == 0:
                continue
            target.lower(slice(lo, hi) if sub.size == hi - lo else sub, c[cs], csq[cs])
            done += sub.size * cs.size
    return done


def lower_dense(best: F32, rows: I64, x: F32, sq: F32, xr: F32 | None, c_rows: I64) -> None:
    """:func:`lower` without pruning, in row blocks of bounded memory."""
    c, csq = x[c_rows], sq[c_rows]
    target = _Target(x, sq, rows, xr, best)
    step = max(1, _WORK_BYTES // (4 * c_rows.size))
    for start in range(0, rows.size, step):
        with one_thread(min(step, rows.size - start) * c_rows.size * x.shape[1]):
            target.lower(slice(start, start + step), c, csq)


class _Target(NamedTuple):
    """Rows whose minima are being lowered: all rows, the chosen ones, their minima."""

    x: F32  # (N, D)
    sq: F32  # (N,)
    rows: I64  # (R,)
    xr: F32 | None  # (R, D) x[rows] when gathered
    best: F32  # (R,)

    def lower(self, where: slice | I64, c: F32, csq: F32) -> None:
        """``best[where] = min(best[where], min_c |x - c|²)``."""
        rows = self.rows[where]
        xs = self.x[rows] if self.xr is None else self.xr[where]  # (R', D)
        new = min_d2(xs, self.sq[rows], c, csq)
        np.minimum(self.best[where], new, out=new)
        self.best[where] = new


def min_d2(xs: F32, xsq: F32, c: F32, csq: F32) -> F32:
    """Min over the centers of ``|x|² + |c|² - 2 x·c`` for each row, clipped at 0.  # (R,)

    Args:
        xs: The rows.  # (R, D)
        xsq: Their squared norms.  # (R,)
        c: The centers.  # (P, D)
        csq: Their squared norms.  # (P,)
    """
    # one center: a matrix-vector product, faster than a 1-column matrix product
    g = (xs @ c[0])[:, None] if c.shape[0] == 1 else xs @ c.T  # (R, P)
    g *= -2.0
    g += xsq[:, None]
    g += csq[None, :]
    out: F32 = np.maximum(g.min(axis=1), np.float32(0.0))
    return out
