"""The greedy loop: add the candidate with the highest ``Π objective ** strength``, one by one.

``strength == 0`` makes a factor 1 (the objective is not scored at all); a negative strength
inverts the objective (scores are clipped to a tiny epsilon first, so no division by zero).
Static objectives (their scores never change with the picks) are scored and multiplied once
into a fixed ``factor``; the others are scored before every pick and multiplied into it. When
exactly one objective changes with the picks and it can find its own argmax lazily (DIVERSITY
with a positive strength), it does so: ``argmax(factor · distance ** strength)`` without
scoring every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from runner.progress import NO_PROGRESS, StageProgress
from runner.selection.objective import LazyArgmax, Objective

_EPS = 1e-12  # scores are clipped to this before a negative power (no division by zero)


@dataclass(frozen=True)
class GreedyOutcome:
    """What the loop picked and why it stopped.

    Attributes:
        picks: Rows in pick order.
        scores: The combined score of each pick.
        reason: The stop reason; ``None`` when the requested count was reached.
    """

    picks: list[int]
    scores: list[float]
    reason: str | None


def powered(scores: npt.NDArray[np.float64], strength: float) -> npt.NDArray[np.float64]:
    """``scores ** strength`` in place, clipped first for a negative strength.  # (N,)"""
    if strength < 0:
        np.maximum(scores, _EPS, out=scores)
    if strength != 1:
        np.power(scores, strength, out=scores)
    return scores


def _multiply(
    into: npt.NDArray[np.float64] | None, scores: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``into *= scores`` (``0 · inf`` from extreme strengths counts as 0).  # (N,)"""
    if into is None:
        return scores
    into *= scores
    np.nan_to_num(into, copy=False, nan=0.0)
    return into


class _Combiner:
    """Scores the static objectives once and the others before each pick."""

    def __init__(self, objectives: Sequence[Objective], strengths: Sequence[float]) -> None:
        active = [(o, s) for o, s in zip(objectives, strengths, strict=True) if s != 0]
        factor: npt.NDArray[np.float64] | None = None
        for objective, strength in active:
            if objective.static:
                factor = _multiply(factor, powered(objective.scores(), strength))
        if factor is not None:
            np.nan_to_num(factor, copy=False, nan=0.0, posinf=np.finfo(np.float64).max)
        self.factor = factor  # (N,) fixed for the whole loop, or None
        self.dynamic = [(o, s) for o, s in active if not o.static]
        lazy = self.dynamic[0][0] if len(self.dynamic) == 1 else None
        self.lazy = lazy if isinstance(lazy, LazyArgmax) else None
        self._order: npt.NDArray[np.int64] | None = None  # static only: rows, best first
        self._next = 0

    def _next_static(self, blocked: npt.NDArray[np.bool_]) -> tuple[int, float]:
        """Nothing changes with the picks: walk the rows in one fixed order (sorted once)."""
        if self._order is None:
            keys = np.zeros(blocked.size) if self.factor is None else self.factor
            self._order = np.argsort(-keys, kind="stable")  # ties: lowest row first
        while blocked[self._order[self._next]]:
            self._next += 1
        best = int(self._order[self._next])
        return best, 1.0 if self.factor is None else float(self.factor[best])

    def best(self, blocked: npt.NDArray[np.bool_]) -> tuple[int, float]:
        """The unblocked row with the highest combined score (ties: the lowest row)."""
        if not self.dynamic:
            return self._next_static(blocked)
        if self.lazy is not None:
            found = self.lazy.argmax(
                factor=self.factor, strength=self.dynamic[0][1], blocked=blocked
            )
            if found is not None:
                return found
        combined = None if self.factor is None else self.factor.copy()
        for objective, strength in self.dynamic:
            combined = _multiply(combined, powered(objective.scores(), strength))
        if combined is None:
            combined = np.ones(blocked.size)
        combined[blocked] = -np.inf
        best = int(np.argmax(combined))  # ties: lowest row
        return best, float(combined[best])


def greedy(
    objectives: Sequence[Objective],
    strengths: Sequence[float],
    blocked: npt.NDArray[np.bool_],
    limit: int | None,
    progress: StageProgress = NO_PROGRESS,
) -> GreedyOutcome:
    """Add the best candidate until ``limit``, exhaustion or a stopping condition.

    Args:
        objectives: One per non-filter strategy.
        strengths: Their exponents.
        blocked: Rows that may not be picked (preselected); updated in place.  # (N,)
        limit: Count to reach, or ``None`` for no limit.
        progress: Told of the picks to come (the limit, or every free row) and of each pick.

    Returns:
        The picks, their combined scores and the stop reason.
    """
    picks: list[int] = []
    pick_scores: list[float] = []
    n_free = int(blocked.size - np.count_nonzero(blocked))
    combiner = _Combiner(objectives, strengths) if n_free else None
    progress.expect(n_free if limit is None else min(limit, n_free))
    while limit is None or len(picks) < limit:
        if len(picks) == n_free or combiner is None:
            return GreedyOutcome(picks, pick_scores, "all candidates selected")
        best, score = combiner.best(blocked)
        for objective in objectives:
            reason = objective.should_stop(best)
            if reason is not None:
                return GreedyOutcome(picks, pick_scores, reason)
        for objective in objectives:
            objective.update(best)
        blocked[best] = True
        picks.append(best)
        pick_scores.append(score)
        progress.advance()
    return GreedyOutcome(picks, pick_scores, None)
