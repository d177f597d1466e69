"""The HERDING engine: the greedy herding argmax without scoring every row at every pick.

The herding gain of row ``i`` after ``t`` picks is ``h_i = μ_i - λ P_i`` with ``λ = 1/(t+1)``
and ``P_i = Σ_s K(x_i, x_s)`` (:mod:`runner.selection.herding`). Scoring every row costs one
pass over ``N x 66`` numbers per pick: hours for 100k picks from 1M rows. Three facts make most
of that work unnecessary:

* **``P`` only grows**, so a row's gain computed with an older ``P`` is an upper bound of its
  gain now: the lazy greedy of Minoux (1978), as in :class:`~runner.selection.objective.
  LazyArgmax` and the tiers of the k-center engine.
* **The kernel is local**: ``K(x, s) < e^-30`` once ``|x - s|^2 > 60 sigma^2``. The rows are split
  into groups with a centre and a radius (:mod:`runner.selection.partition`); a pick farther
  than ``radius + sqrt(60) sigma`` from a group's centre (triangle inequality) adds nothing to it
  and is skipped. This is the only approximation: each skipped term is below ``e^-30 ≈ 1e-13``
  of a kernel value of 1, so the gains move by less than ``1e-13`` (far below the float32
  rounding of the kernel values themselves).
* **Per group, the gain is linear in ``λ``**: with ``g`` the group's best gain when it was last
  evaluated at ``λ_0``, every member's gain at ``λ <= λ_0`` is at most
  ``g + (λ_0 - λ) max P``, and at most ``max μ - λ min P``; picks since then only lower it.

Each pick therefore evaluates groups in the order of their bounds until the best gain found is
at least every remaining bound; an evaluated group first folds in its pending picks (those
within reach) as one matrix product. Ties go to the lowest row, as in the exhaustive loop.
Next to static objectives (WEIGHTS, TYPICALITY, ...), the key is
``log f_i + s h_i / τ`` (the log of the loop's product), i.e. ``μ_i`` is replaced by
``μ_i + (τ/s) log f_i``; the bounds keep their form.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from runner.selection.blas import one_thread
from runner.selection.partition import Partition

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

CUTOFF = 30.0  # kernel terms below e^-CUTOFF are skipped (|x - s|^2 > 2 CUTOFF sigma^2)
_QUEUE = 64  # groups ranked by bound at a time (a partial sort, not a full one per pick)
_PICK_CHUNK = 2_048  # pending picks folded into a group per matrix product
_GROUP_BLOCK = 1_024  # groups whose distances to the density's base are computed at a time


def reach(groups: Partition, sigma2: float) -> F64:
    """Squared distance from each group's centre beyond which its kernel is below e^-CUTOFF.

    Radius plus ``sqrt(2 CUTOFF) sigma``, widened for float32 rounding of the distances.  # (G,)
    """
    far = groups.radii + np.sqrt(2 * CUTOFF * sigma2)
    out: F64 = (far * (1 + 1e-5) + 1e-6) ** 2
    return out


def grouped_kernel_mean(a: F32, sigma2: float, columns: F32, groups: Partition) -> F64:
    """The mean kernel of every row to the base rows, summing only base rows within reach.

    The density's base of 10k rows is far wider than a group's neighbourhood: at 1M rows
    most of the ``N x 10k`` kernel values are below ``e^-30``; each group skips them.

    Args:
        a: :func:`~runner.selection.herding.log_kernel_rows` of the rows.  # (N, D + 2)
        sigma2: The kernel's ``sigma^2``.
        columns: :func:`~runner.selection.herding.log_kernel_column` of the base.  # (D+2, B)
        groups: The rows' groups.

    Returns:
        The kernel density estimate of every row.  # (N,) float64
    """
    base = np.ascontiguousarray(columns[:-2].T)  # (B, D) the base rows
    base_sq = np.einsum("bd,bd->b", base, base)
    limit = reach(groups, sigma2)  # (G,)
    mean = np.zeros(a.shape[0], dtype=np.float64)
    for first in range(0, limit.size, _GROUP_BLOCK):
        centres = groups.centres[first : first + _GROUP_BLOCK]  # (g, D)
        d2 = centres @ base.T  # (g, B)
        d2 *= -2.0
        d2 += np.einsum("gd,gd->g", centres, centres)[:, None] + base_sq[None, :]
        near = d2 <= limit[first : first + _GROUP_BLOCK, None]
        with one_thread(0):  # small products, one group at a time
            for g in range(first, first + centres.shape[0]):
                cols = np.flatnonzero(near[g - first])
                if not cols.size:
                    continue
                rows = groups.order[groups.starts[g] : groups.starts[g + 1]]
                log_k = a[rows] @ columns[:, cols]  # (n_g, b)
                mean[rows] = np.exp(log_k, out=log_k).sum(axis=1, dtype=np.float64)
    mean /= columns.shape[1]
    return mean


class LazyHerding:
    """Herding gains of every row, exact on demand, and their argmax by group bounds."""

    def __init__(self, a: F32, sigma2: float, mu: F64, groups: Partition) -> None:
        """Sort the rows by group and start with no picks.

        Args:
            a: :func:`~runner.selection.herding.log_kernel_rows` of the rows.  # (N, D + 2)
            sigma2: The kernel's ``sigma^2``.
            mu: The kernel density of every row.  # (N,) float64
            groups: The rows' partition (its ``order`` becomes the internal row order).
        """
        n, width = a.shape
        self._order = groups.order  # internal position -> row
        self._pos = np.empty(n, dtype=np.int64)  # row -> internal position
        self._pos[groups.order] = np.arange(n)
        self._a = np.ascontiguousarray(a[groups.order])  # (N, D + 2)
        self._sigma2 = sigma2
        self._mu = mu[groups.order]  # (N,)
        self._mu_scale = float(np.abs(mu).max()) if n else 1.0
        self._starts = groups.starts  # (G + 1,)
        self._group_of = np.repeat(np.arange(groups.radii.size), np.diff(groups.starts))  # (N,)
        self._centres = groups.centres  # (G, D)
        self._reach2 = reach(groups, sigma2)  # (G,)
        self.penalty = np.zeros(n, dtype=np.float64)  # (N,) Σ_s K(x_i, x_s), folded picks only
        self._blocked = np.zeros(n, dtype=bool)  # (N,)
        self._columns = np.empty((16, width), dtype=np.float32)  # (cap, D + 2) picks' columns
        self._count = 0  # picks so far (preselected included)
        self._folded = np.zeros(groups.radii.size, dtype=np.int64)  # (G,) picks folded in
        self._dense = False  # every pick folded into every row at once (no bounds kept)
        self._key: tuple[int, float] | None = None  # (id(factor), strength) of the base
        self._base = self._mu.copy()  # (N,) μ (+ (τ/s) log f), -inf once picked
        self._top = np.zeros(groups.radii.size)  # (G,) max base
        self._best_gain = np.full(groups.radii.size, np.inf)  # (G,) at lam0
        self._lam0 = np.ones(groups.radii.size)  # (G,)
        self._pmax = np.zeros(groups.radii.size)  # (G,) over free members
        self._pmin = np.zeros(groups.radii.size)  # (G,)
        self._best_at = np.zeros(groups.radii.size, dtype=np.int64)  # (G,) internal position
        self.evaluated = 0  # groups evaluated by argmax, for the summary
        self.folded_pairs = 0  # (row, pick) kernel values computed, for the summary

    @property
    def groups(self) -> int:
        """How many groups the rows were split into."""
        return int(self._top.size)

    @property
    def count(self) -> int:
        """Picks so far, preselected rows included."""
        return self._count

    def add(self, row: int) -> None:
        """Record a pick: its kernel row is folded into the others when they need it."""
        if self._count == self._columns.shape[0]:
            self._columns = np.concatenate([self._columns, np.empty_like(self._columns)])
        pos = int(self._pos[row])
        column = self._columns[self._count]
        column[:-2] = self._a[pos, :-2] * np.float32(self._sigma2)
        column[-2] = 1.0
        column[-1] = self._a[pos, -2]
        self._count += 1
        self._blocked[pos] = True
        self._base[pos] = -np.inf
        if self._dense:
            log_k = self._a @ column  # (N,)
            self.penalty += np.exp(log_k, out=log_k)
            self._folded[:] = self._count

    def gain(self, row: int) -> float:
        """``h`` of one row given every pick so far."""
        pos = int(self._pos[row])
        self._fold(int(self._group_of[pos]))
        return float(self._mu[pos] - self.penalty[pos] / (self._count + 1))

    def gains(self) -> F64:
        """``h`` of every row, in row order (folds every pick everywhere).  # (N,)"""
        if not self._dense:
            for g in range(self.groups):
                self._fold(g)
            self._dense = True  # from now on each pick is folded into every row at once
        out = np.empty(self._mu.size, dtype=np.float64)
        out[self._order] = self._mu - self.penalty / (self._count + 1)
        return out

    def _fold(self, g: int) -> None:
        """Add the kernel rows of the group's pending picks within reach to its penalty."""
        first = int(self._folded[g])
        if first == self._count:
            return
        self._folded[g] = self._count
        columns = self._columns[first : self._count]  # (m, D + 2)
        offsets = columns[:, :-2] - self._centres[g]  # (m, D)
        near = np.einsum("md,md->m", offsets, offsets) <= self._reach2[g]
        if not near.any():
            return
        columns = columns[near]
        s, e = self._starts[g], self._starts[g + 1]
        self.folded_pairs += (e - s) * columns.shape[0]
        for start in range(0, columns.shape[0], _PICK_CHUNK):
            log_k = self._a[s:e] @ columns[start : start + _PICK_CHUNK].T  # (n_g, m)
            self.penalty[s:e] += np.exp(log_k, out=log_k).sum(axis=1, dtype=np.float64)

    def _evaluate(self, g: int, lam: float) -> None:
        """Fold the group's picks and record its best key at ``lam = 1/(t+1)`` and bounds.

        The penalty bounds run over the free members (a group with none gets -inf bounds).
        """
        self._fold(g)
        s, e = self._starts[g], self._starts[g + 1]
        base = self._base[s:e]
        penalty = self.penalty[s:e]
        keys = penalty / (self._count + 1)  # (n_g,)
        np.subtract(base, keys, out=keys)  # -inf where picked; rounded as h is
        best = int(keys.argmax())  # ties: the lowest position, i.e. the lowest row
        self._lam0[g] = lam
        self._best_at[g] = s + best
        self._best_gain[g] = keys[best]
        free = np.isfinite(base)
        self._top[g] = base.max()
        self._pmax[g] = penalty.max(where=free, initial=0.0)
        self._pmin[g] = penalty.min(where=free, initial=np.inf)

    def _set_base(self, factor: F64 | None, strength: float, tau: float) -> None:
        """Keys' constant part for this factor and strength; every group's bound reset."""
        key = (id(factor), strength)
        if self._key == key:
            return
        self._key = key
        base = self._mu.copy()
        if factor is not None:
            with np.errstate(divide="ignore"):
                base += (tau / strength) * np.log(factor[self._order])
        base[self._blocked] = -np.inf
        self._base = base
        self._top = np.maximum.reduceat(base, self._starts[:-1])
        self._best_gain[:] = np.inf
        self._pmin[:] = 0.0  # a valid lower bound of every penalty

    @staticmethod
    def _highest(bound: F64) -> list[int]:
        """The groups with the :data:`_QUEUE` highest bounds, the highest last."""
        size = bound.size
        top = np.argpartition(bound, size - _QUEUE)[size - _QUEUE :] if size > _QUEUE else None
        top = np.arange(size) if top is None else top
        ranked: list[int] = top[np.argsort(bound[top], kind="stable")].tolist()
        return ranked

    def argmax(
        self, *, factor: F64 | None, strength: float, tau: float
    ) -> tuple[int, float] | None:
        """The free row with the largest ``factor · exp(s (h - h*) / τ)``; ``None``: none finite.

        Args:
            factor: The static objectives' product (the same array on every call), or ``None``.
            strength: HERDING's exponent, positive.
            tau: The gain's scale.

        Returns:
            The row and its score (``factor`` of the row, 1 without one: it has the best gain
            the combination allowed), or ``None`` when every free row's factor is 0.
        """
        self._set_base(factor, strength, tau)
        with one_thread(0):  # many small products: waking BLAS threads costs more
            return self._argmax(factor)

    def _argmax(self, factor: F64 | None) -> tuple[int, float] | None:
        """:meth:`argmax` once the base is set."""
        lam = 1.0 / (self._count + 1)
        bound = np.minimum(
            self._best_gain + (self._lam0 - lam) * self._pmax, self._top - lam * self._pmin
        )  # (G,)
        best_key, best_at = -np.inf, -1
        queue: list[int] = []  # groups by descending bound, the next one last
        while True:
            if not queue:
                queue = self._highest(bound)
            g = queue.pop()
            if bound[g] == -np.inf:
                break
            slack = 1e-12 * (abs(best_key) + self._mu_scale) if best_at >= 0 else 0.0
            if best_at >= 0 and bound[g] < best_key - slack:
                break
            self._evaluate(g, lam)
            self.evaluated += 1
            bound[g] = -np.inf
            value, at = float(self._best_gain[g]), int(self._best_at[g])
            if value == -np.inf:
                continue
            if value > best_key or (value == best_key and self._order[at] < self._order[best_at]):
                best_key, best_at = value, at
        if best_at < 0:
            return None
        row = int(self._order[best_at])
        return row, 1.0 if factor is None else float(factor[row])
