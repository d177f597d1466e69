"""WEIGHTS: prefer samples with high values of a numeric input.

Objective (no ``target_range``; static)::

    w_i = (v_i - m) + 1e-6 · spread,   m = min(0, min_j v_j),   spread = max_j v_j - m

Non-negative inputs (scores, counts, RANDOM) keep their ratios, so the product with other
objectives is scale free as in Lightly's docs; inputs with negative values are shifted so the
lowest is 0. The tiny floor keeps samples with value 0 in the game: other objectives still
order them instead of the product collapsing to 0. A sample without a value (NaN) counts as the
lowest value.

``stopping_condition_max_sum``: let ``S`` be the sum of the input over the selection so far
(preselected samples included). Before adding a sample with value ``v`` the loop stops if
``S + v > max_sum``; the selected sum never exceeds ``max_sum``. The pick that would have
exceeded it is not replaced by a smaller one: like every stopping condition it ends the
selection.

``target_range {min_sum, max_sum}`` (missing bounds: 0 and infinity) makes the objective
change with the picks: it spreads the sum over the picks still to come. With ``r`` the number
of picks left including this one (``n_samples`` minus the picks so far; 1 without a count
limit), the values that keep the sum on course lie in the interval
``[(min_sum - S) / r, (max_sum - S) / r]``; with ``dist(v)`` the distance of ``v`` to that
interval (0 inside) and ``scale`` the mean absolute value of the input::

    w_i = 1 / (1 + dist(v_i) / scale)

Samples on course score 1 (neutral: the other strategies decide), the others less the further
off they are: below the range high values win, above it low values. On the last pick
(``r = 1``) the interval is exactly "lands the sum in the range". It aims, it does not stop:
a stopping condition that ends the loop early leaves the sum short of the range.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from runner.config import TargetRange
from runner.selection.objective import ObjectiveContext

_FLOOR = 1e-6  # relative to the spread of the input


def weight_scores(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The static WEIGHTS objective of every row (see the module docstring).  # (N,)"""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.ones(v.size)
    low = min(0.0, float(finite.min()))
    spread = float(finite.max()) - low
    spread = spread if spread > 0 else 1.0
    w = np.where(np.isfinite(v), v - low, 0.0)
    w += _FLOOR * spread
    return w


def range_bounds(
    target_range: TargetRange | Mapping[str, float | None] | None,
) -> tuple[float, float] | None:
    """``(min_sum, max_sum)`` of a ``target_range`` (dataclass or dict); missing: 0 and inf."""
    if target_range is None:
        return None
    if isinstance(target_range, Mapping):
        low, high = target_range.get("min_sum"), target_range.get("max_sum")
    else:
        low, high = target_range.min_sum, target_range.max_sum
    return (float(low) if low is not None else 0.0, float(high) if high is not None else np.inf)


class WeightsObjective:
    """Prefer high values; optional max-sum stop and target range."""

    def __init__(
        self,
        *,
        values: npt.NDArray[np.float64],
        preselected: npt.NDArray[np.int64],
        max_sum: float | None = None,
        target_range: TargetRange | Mapping[str, float | None] | None = None,
        n_requested: int | None = None,
    ) -> None:
        """Set up the objective.

        Args:
            values: The input's value per row; NaN is no value.  # (N,) float64
            preselected: Rows already selected; their values start the sum.  # (M,)
            max_sum: ``stopping_condition_max_sum``, or ``None``.
            target_range: ``target_range``, or ``None``.
            n_requested: Picks the loop will make at most (``None``: no limit), to spread
                the target range over them.
        """
        self._values = np.asarray(values, dtype=np.float64)  # (N,)
        self._sum_values = np.nan_to_num(self._values, nan=0.0)  # NaN adds nothing to sums
        self._base = weight_scores(self._values)  # (N,)
        self._sum = float(self._sum_values[preselected].sum())
        self._start_sum = self._sum
        self._max_sum = max_sum
        self._range = range_bounds(target_range)
        mean_abs = float(np.abs(self._sum_values).mean()) if self._values.size else 0.0
        self._scale = mean_abs if mean_abs > 0 else 1.0
        self._stop_sum: float | None = None
        self._n_requested = n_requested
        self._n_picked = 0

    @property
    def name(self) -> str:
        """``"WEIGHTS"``."""
        return "WEIGHTS"

    @property
    def static(self) -> bool:
        """Static unless a target range is set."""
        return self._range is None

    def scores(self) -> npt.NDArray[np.float64]:
        """The objective of every row given the sum so far.  # (N,) float64"""
        if self._range is None:
            return self._base.copy()
        left = max(1, self._n_requested - self._n_picked) if self._n_requested else 1
        low, high = ((bound - self._sum) / left for bound in self._range)
        v = self._sum_values  # (N,)
        dist = np.maximum(low - v, 0.0) + np.maximum(v - high, 0.0)
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + dist / self._scale)
        return out

    def should_stop(self, picked: int) -> str | None:
        """Stop before the selected sum would exceed ``stopping_condition_max_sum``."""
        if self._max_sum is None:
            return None
        after = self._sum + float(self._sum_values[picked])
        if after <= self._max_sum:
            return None
        self._stop_sum = after
        return f"{self.name}: stopping_condition_max_sum {self._max_sum:g} reached"

    def update(self, picked: int) -> None:
        """Add the pick's value to the sum."""
        self._sum += float(self._sum_values[picked])
        self._n_picked += 1

    def summary(self) -> dict[str, object]:
        """Sums: at the start (preselected), at the end, and the one that stopped the loop."""
        return {
            "start_sum": self._start_sum,
            "final_sum": self._sum,
            "stop_sum": self._stop_sum,
            "target_range": list(self._range) if self._range is not None else None,
            "missing_values": int(np.count_nonzero(np.isnan(self._values))),
        }


def build_weights(ctx: ObjectiveContext) -> WeightsObjective:
    """Build the WEIGHTS objective of one strategy entry.

    Args:
        ctx: The validated entry and its resolved NUMERIC values.

    Returns:
        The objective.
    """
    assert ctx.values is not None  # resolved by select() for every non-EMBEDDINGS input
    strategy = ctx.entry.strategy
    return WeightsObjective(
        values=np.asarray(ctx.values.values, dtype=np.float64),
        preselected=ctx.preselected,
        max_sum=strategy.stopping_condition_max_sum,
        target_range=strategy.target_range,
        n_requested=ctx.n_requested,
    )
