"""THRESHOLD: a filter applied before every other strategy (spec §4.4, step 1).

A candidate stays when ``value <operation> threshold`` holds, exactly as written:
``SMALLER`` is ``<``, ``SMALLER_EQUAL`` is ``<=``, ``BIGGER`` is ``>``, ``BIGGER_EQUAL`` is
``>=``, compared in float64. A sample without a value (NaN) fails every comparison and is
removed. Each threshold reports how many candidates it removed (counted in config order, so a
sample removed by several thresholds counts for the first).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from runner.config import ThresholdOperation

Comparison = Callable[[npt.NDArray[np.float64], float], npt.NDArray[np.bool_]]

OPERATIONS: dict[ThresholdOperation, tuple[str, Comparison]] = {
    ThresholdOperation.SMALLER: ("<", np.less),
    ThresholdOperation.SMALLER_EQUAL: ("<=", np.less_equal),
    ThresholdOperation.BIGGER: (">", np.greater),
    ThresholdOperation.BIGGER_EQUAL: (">=", np.greater_equal),
}


def threshold_mask(
    values: npt.NDArray[np.float64], operation: ThresholdOperation | str, threshold: float
) -> npt.NDArray[np.bool_]:
    """Which rows pass ``value <operation> threshold``.

    Args:
        values: One number per row; NaN never passes.  # (N,) float64
        operation: Lightly's operation name.
        threshold: The number to compare with.

    Returns:
        ``True`` where the row stays.  # (N,) bool
    """
    _, compare = OPERATIONS[ThresholdOperation(operation)]
    with np.errstate(invalid="ignore"):
        kept: npt.NDArray[np.bool_] = compare(np.asarray(values, dtype=np.float64), threshold)
    return kept


def apply_threshold(
    *,
    values: npt.NDArray[np.float64],
    operation: ThresholdOperation | str,
    threshold: float,
    candidates: npt.NDArray[np.bool_],
) -> dict[str, object]:
    """Remove the candidates that fail one threshold, in place; what it did.

    Args:
        values: One number per row.  # (N,) float64
        operation: Lightly's operation name.
        threshold: The number to compare with.
        candidates: Rows still selectable; failing rows are set to ``False``.  # (N,) bool

    Returns:
        ``condition`` (e.g. ``"value > 0.5"``), ``removed`` and ``kept`` candidate counts.
    """
    symbol, _ = OPERATIONS[ThresholdOperation(operation)]
    before = int(np.count_nonzero(candidates))
    candidates &= threshold_mask(values, operation, threshold)
    kept = int(np.count_nonzero(candidates))
    return {"condition": f"value {symbol} {threshold:g}", "removed": before - kept, "kept": kept}
